from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_webhooks_allow_private(app_configs, **kwargs):  # type: ignore[no-untyped-def]
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return [
            Error(
                "WEBHOOKS_ALLOW_PRIVATE is on: webhooks may be sent to loopback and private addresses, "
                "letting any customer reach services inside your network (SSRF).",
                hint="Unset WEBHOOKS_ALLOW_PRIVATE in production; it is for development and tests only.",
                id="webhooks.E001",
            )
        ]
    return []
