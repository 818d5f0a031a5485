from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from authkeys.ipaddrs import parse_client_ip
from authkeys.models import AuthKey
from messaging.catalogue import CATALOGUE
from messaging.selectors import is_message_id, is_request_id


class FailedLogFilterForm(forms.Form):
    code = forms.ChoiceField(
        required=False,
        choices=[("", "Any code")]
        + [(c.value, f"{c.value} · {e.description[:50]}") for c, e in CATALOGUE.items()],
    )
    ip = forms.CharField(required=False, max_length=45, label="IP")
    key = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Key")
    key_prefix = forms.CharField(required=False, max_length=16, label="Key prefix")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, authkeys: Iterable[AuthKey] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [("", "Any key")] + [  # type: ignore[attr-defined]
            (str(key.pk), key.name) for key in authkeys
        ]

    def clean_ip(self) -> str:
        raw = self.cleaned_data["ip"].strip()
        if raw and parse_client_ip(raw) is None:
            raise ValidationError("“%(ip)s” is not an IP address.", params={"ip": raw})
        return str(parse_client_ip(raw)) if raw else ""

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "“To” must not be before “From”.")
        return data


class RequestLookupForm(forms.Form):
    request_id = forms.CharField(label="Request id or message id", max_length=40)

    def clean_request_id(self) -> str:
        value = self.cleaned_data["request_id"].strip().lower()
        if is_request_id(value) or is_message_id(value):
            return value
        raise ValidationError(
            "Enter the 24-character hexadecimal request id the API answered with "
            "(e.g. 87da1b3f4a5ab07021fa64bb), or a recipient's 36-character message id."
        )


class IpCheckForm(forms.Form):
    key = forms.TypedChoiceField(coerce=int, label="Key")
    ip = forms.CharField(label="IP", max_length=45)

    def __init__(self, *args: Any, authkeys: Iterable[AuthKey], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [(str(key.pk), key.name) for key in authkeys]  # type: ignore[attr-defined]

    def clean_ip(self) -> str:
        raw = self.cleaned_data["ip"].strip()
        address = parse_client_ip(raw)
        if address is None:
            raise ValidationError("“%(ip)s” is not an IP address.", params={"ip": raw})
        return str(address)
