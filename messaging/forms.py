import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from authkeys.ipaddrs import parse_client_ip
from authkeys.models import AuthKey
from messaging import flows, services
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
    request_id = forms.CharField(
        label="Request id or message id",
        max_length=40,
        widget=forms.TextInput(attrs={"class": "wide", "spellcheck": "false", "autocomplete": "off"}),
    )

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


# --- Sender IDs, contact groups and flows ---------------------------------------------------------


def _sender(raw: str) -> str:
    return services.normalise_sender(raw)


class SenderIdRequestForm(forms.Form):
    sender = forms.CharField(
        label="Sender ID",
        max_length=20,
        help_text="3 to 11 letters or digits, e.g. ACMEIN. Staff approve it before the API may use it.",
        error_messages={
            "required": "Enter a sender ID.",
            "max_length": "A sender ID has at most 11 characters.",
        },
    )

    def clean_sender(self) -> str:
        return _sender(self.cleaned_data["sender"])


class ContactGroupForm(forms.Form):
    name = forms.CharField(
        label="Group name",
        max_length=100,
        error_messages={
            "required": "Enter a group name.",
            "max_length": "A group name has at most 100 characters.",
        },
    )


class GroupMembersForm(forms.Form):
    numbers = forms.CharField(
        label="Mobile numbers",
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=200_000,
        help_text="One per line or comma-separated, with the country code (919876543210 or +44 7700 900123); "
        "10 digits are taken as Indian numbers.",
        error_messages={"required": "Enter at least one mobile number."},
    )

    def clean_numbers(self) -> list[str]:
        return services.parse_member_numbers(self.cleaned_data["numbers"])


_HASHES = re.compile(r"##([^#\s]*)(?:##)?")


class FlowForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        error_messages={"required": "Enter a name for the flow.", "max_length": "At most 100 characters."},
    )
    template = forms.CharField(
        label="Template text",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Variables as ##name## (letters, digits, _), e.g. “Hi ##name##, your code is ##code##.”",
        error_messages={"required": "Enter the template text.", "max_length": "At most 2000 characters."},
    )
    sender = forms.CharField(
        label="Default sender ID",
        required=False,
        max_length=20,
        help_text="Optional; a request's sender overrides it.",
    )
    route = forms.ChoiceField(choices=list(services.FLOW_ROUTES.items()), initial="4")

    def clean_sender(self) -> str:
        raw = self.cleaned_data["sender"].strip()
        return _sender(raw) if raw else ""

    def clean_template(self) -> str:
        text = self.cleaned_data["template"].strip()
        leftover = flows.PLACEHOLDER.sub("", text)
        if "##" in leftover:
            bad = _HASHES.search(leftover)
            shown = bad.group(0) if bad else "##"
            raise ValidationError(
                "“%(bad)s” is not a variable: write ##name## with letters, digits or _ between the ## marks.",
                params={"bad": shown},
            )
        return text
