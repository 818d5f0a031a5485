import secrets

from django.db import migrations, models

import authkeys.models


def fill(apps, schema_editor):
    AuthKey = apps.get_model("authkeys", "AuthKey")
    for authkey in AuthKey.objects.filter(public_id__isnull=True).only("pk"):
        authkey.public_id = secrets.token_hex(16).upper()
        authkey.save(update_fields=["public_id"])


class Migration(migrations.Migration):
    dependencies = [("authkeys", "0004_authkey_valid_from")]

    operations = [
        migrations.AddField(
            model_name="authkey",
            name="public_id",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="authkey",
            name="public_id",
            field=models.CharField(
                default=authkeys.models.new_public_id, editable=False, max_length=32, unique=True
            ),
        ),
    ]
