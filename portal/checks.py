from django.conf import settings
from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string


@register(Tags.security, deploy=True)
def check_delivery_backends(app_configs, **kwargs):  # type: ignore[no-untyped-def]
    errors = []
    backend = import_string(settings.SMS_BACKEND)
    if getattr(backend, "development_only", False):
        errors.append(
            Error(
                f"SMS_BACKEND is {settings.SMS_BACKEND}, which prints message bodies (OTP codes).",
                hint="Name a real SMS gateway backend in production.",
                id="portal.E001",
            )
        )
    delivery_backend = import_string(settings.SMS_DELIVERY_BACKEND)
    if getattr(delivery_backend, "development_only", False):
        errors.append(
            Error(
                f"SMS_DELIVERY_BACKEND is {settings.SMS_DELIVERY_BACKEND}, which does not deliver messages.",
                hint="Use the simulator only for trials; name a real upstream gateway backend in production.",
                id="portal.E003",
            )
        )
    if settings.MAILERS["default"].get("BACKEND") == "portal.mail.DevOutboxEmailBackend":
        errors.append(
            Error(
                "The default mailer is the development outbox, which prints password-reset links.",
                hint="Use SMTP (EMAIL_URL) in production.",
                id="portal.E002",
            )
        )
    return errors
