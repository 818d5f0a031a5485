from django.db import migrations

SERVICES = [
    ("sms-send", "SMS send", "Send SMS (MSG91 sendhttp / v2, Infobip sms/2 and sms/3, GatewayAPI)."),
    ("sms-flow", "Flow / template send", "Send approved templates (MSG91 flow)."),
    ("otp", "OTP", "Send, retry and verify OTPs."),
    ("reports", "Reports", "Delivery reports and logs."),
    ("balance", "Balance", "Read the SMS balance."),
    ("key-management", "Key management", "Regenerate and manage API keys over the API."),
]


def seed(apps, schema_editor):
    Service = apps.get_model("authkeys", "Service")
    Rule = apps.get_model("authkeys", "Rule")
    for code, name, description in SERVICES:
        Service.objects.update_or_create(code=code, defaults={"name": name, "description": description})
    Rule.objects.get_or_create(company=None, name="All services", defaults={"all_services": True})


def unseed(apps, schema_editor):
    apps.get_model("authkeys", "Rule").objects.filter(company=None, name="All services").delete()
    apps.get_model("authkeys", "Service").objects.filter(code__in=[code for code, _, _ in SERVICES]).delete()


class Migration(migrations.Migration):
    dependencies = [("authkeys", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
