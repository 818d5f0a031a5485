import pytest
from django.core.exceptions import ValidationError

from accounts.phone import mask_mobile, normalize_mobile


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+91 98765 43210", "+919876543210"),
        ("9876543210", "+919876543210"),
        ("+919876543210", "+919876543210"),
        ("(0) 98765-43210", "+919876543210"),
        ("+1 201 555 0123", "+12015550123"),
    ],
)
def test_normalize_mobile_gives_e164(raw, expected):
    assert normalize_mobile(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a mobile number"),
        ("hello", "is not a phone number"),
        ("+91 12345", "is not a valid number"),
        ("+91 11 2345 6789", "is not a mobile number"),
    ],
)
def test_normalize_mobile_says_what_is_wrong(raw, message):
    with pytest.raises(ValidationError) as caught:
        normalize_mobile(raw)
    assert message in " ".join(caught.value.messages) % {"value": raw}


def test_mask_mobile_hides_the_middle():
    assert mask_mobile("+919876543210") == "+91•••••••210"
