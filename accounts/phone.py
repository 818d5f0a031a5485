import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def normalize_mobile(raw: str, *, region: str | None = None) -> str:
    """Return the number in E.164, or raise ValidationError saying what is wrong with it."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError("Enter a mobile number.", code="required")
    try:
        number = phonenumbers.parse(text, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            "“%(value)s” is not a phone number (%(reason)s). Enter it with its country code, "
            "for example +91 98765 43210.",
            code="invalid",
            params={"value": text, "reason": str(exc).split(") ", 1)[-1].rstrip(".")},
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            "“%(value)s” is not a valid number for its country. Check the digits and the country code.",
            code="invalid",
            params={"value": text},
        )
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise ValidationError(
            "“%(value)s” is not a mobile number: it cannot receive SMS.",
            code="not_mobile",
            params={"value": text},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_e164_mobile(value: str) -> None:
    if normalize_mobile(value) != value:
        raise ValidationError("Store mobile numbers in E.164 form, e.g. +919876543210.", code="not_e164")


def mask_mobile(e164: str) -> str:
    """+919876543210 → +91•••••••210, for messages that must not reveal the whole number."""
    if len(e164) <= 6:
        return e164
    return e164[:3] + "•" * (len(e164) - 6) + e164[-3:]


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return (local[:1] + "•••" + "@" + domain) if domain else address
