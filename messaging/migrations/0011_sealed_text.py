"""Message.text_after_delivery (the masked text, while `text` held the real one until hand-over)
becomes Message.sealed_text (the real text sealed, while `text` holds the masked one): an OTP SMS
no longer keeps its code in clear in the database at any time."""

from django.db import migrations, models


def seal_pending(apps, schema_editor):
    from messaging import sealing

    Message = apps.get_model("messaging", "Message")
    for message in Message.objects.exclude(sealed_text="").only("pk", "text", "sealed_text"):
        masked, real = message.sealed_text, message.text
        Message.objects.filter(pk=message.pk).update(text=masked, sealed_text=sealing.seal(real))


class Migration(migrations.Migration):
    dependencies = [("messaging", "0010_duplicate_guard")]

    operations = [
        migrations.RenameField(model_name="message", old_name="text_after_delivery", new_name="sealed_text"),
        migrations.AlterField(
            model_name="message",
            name="sealed_text",
            field=models.TextField(
                blank=True,
                help_text="The real text of a message whose `text` is masked (an OTP SMS), sealed "
                "(messaging/sealing.py) until it is handed to the gateway; then cleared.",
            ),
        ),
        migrations.RunPython(seal_pending, migrations.RunPython.noop),
    ]
