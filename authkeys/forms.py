"""Forms of the Authkey page: they validate the shape of the input; the rules live in services."""

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Company
from authkeys import selectors, services
from authkeys.ipaddrs import parse_entry
from authkeys.models import AuthKey, Rule

_ENTRY_SEPARATORS = re.compile(r"[,\r\n]+")

GRACE_CHOICES = [
    (0, "Immediately"),
    (60 * 60, "After 1 hour"),
    (6 * 60 * 60, "After 6 hours"),
    (24 * 60 * 60, "After 24 hours"),
]


def split_entries(text: str) -> list[str]:
    """Allow-list entries typed one per line or comma-separated (spaces inside an entry stay, so
    "192.0. 2.146" is reported as itself rather than silently split)."""
    return [part.strip() for part in _ENTRY_SEPARATORS.split(text or "") if part.strip()]


def clean_entries(text: str, *, required: bool) -> list[str]:
    """Check every entry with ipaddrs.parse_entry and report every bad one by name."""
    entries = split_entries(text)
    if not entries:
        if required:
            parse_entry("")  # raises its "empty entry" message
        return []
    errors: list[ValidationError] = []
    for entry in entries:
        try:
            parse_entry(entry)
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise ValidationError(errors)
    return entries


def _on_off(value: str) -> bool:
    return value == "1"


class KeySettingsForm(forms.Form):
    """Name, use case, rule and expiry: shared by create and edit."""

    name = forms.CharField(
        label="Name",
        required=False,
        help_text="Letters, digits, spaces, - and _ (at most 50).",
        widget=forms.TextInput(attrs={"maxlength": 50, "autocomplete": "off"}),
    )
    use_case = forms.CharField(
        label="Where are you integrating",
        required=False,
        help_text="Pick one you used before or type a new one, e.g. Website, CRM, Mobile app.",
        widget=forms.TextInput(attrs={"list": "use-case-options", "maxlength": 60, "autocomplete": "off"}),
    )
    rule = forms.ModelChoiceField(
        label="Rule",
        queryset=Rule.objects.none(),
        empty_label=None,
        help_text="Which services the key may use. Manage rules under Settings → Rules.",
    )
    valid_from = forms.DateTimeField(
        label="Valid from (optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    expires_at = forms.DateTimeField(
        label="Valid to / expiry (optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, company: Company, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rule_field = self.fields["rule"]
        assert isinstance(rule_field, forms.ModelChoiceField)
        rule_field.queryset = selectors.rules_for_company(company=company)
        zone = timezone.get_current_timezone_name()
        self.fields[
            "valid_from"
        ].help_text = f"The key is refused before this moment. Leave empty for “from now”. Time zone: {zone}."
        self.fields["expires_at"].help_text = (
            f"The key is refused from this moment on. Leave empty for a key that does not expire. "
            f"Time zone: {zone}."
        )

    def clean_name(self) -> str:
        return services.clean_key_name(self.cleaned_data["name"])

    def clean_use_case(self) -> str:
        return services.clean_use_case(self.cleaned_data["use_case"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            services.check_validity(cleaned.get("valid_from"), cleaned.get("expires_at"))
        except ValidationError as error:
            self.add_error("expires_at", error)
        return cleaned


class KeyCreateForm(KeySettingsForm):
    ip_security = forms.BooleanField(
        label="IP security",
        required=False,
        initial=True,
        help_text="Only whitelisted IPs may use the key (recommended). You can turn it off later.",
    )
    whitelist_ips = forms.CharField(
        label="Whitelist IPs (optional)",
        required=False,
        help_text="One per line or comma-separated: IPv4, IPv6 or CIDR, e.g. 203.0.113.10, 2001:db8::/32.",
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_whitelist_ips(self) -> list[str]:
        return clean_entries(self.cleaned_data["whitelist_ips"], required=False)


class IpAddForm(forms.Form):
    entries = forms.CharField(
        label="IP address(es)",
        required=False,
        help_text="IPv4, IPv6 or CIDR; several at once separated by commas.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "203.0.113.10"}
        ),
    )

    def clean_entries(self) -> list[str]:
        return clean_entries(self.cleaned_data["entries"], required=True)


class RegenerateForm(forms.Form):
    grace_seconds = forms.TypedChoiceField(
        label="The old key stops working",
        choices=GRACE_CHOICES,
        coerce=int,
        initial=0,
        widget=forms.RadioSelect,
        help_text="During a grace period both the old and the new key work (at most 24 hours).",
    )


class SwitchForm(forms.Form):
    """An on/off switch: the button posts the state it switches to."""

    enabled = forms.TypedChoiceField(choices=[("1", "On"), ("0", "Off")], coerce=_on_off)
    view = forms.ChoiceField(choices=[("row", "row"), ("panel", "panel")], required=False)


class WhitelistTargetForm(forms.Form):
    """Which key (or the whole company) gets an IP: the + of Recent IPs and the Whitelist action
    of Failed Logs.

    The value is only shaped here; the key is then looked up through the user's company, so a key
    of another company is a 404, not a form error."""

    COMPANY = "company"

    target = forms.CharField(label="Whitelist for", max_length=20, widget=forms.Select)

    def __init__(self, *args: Any, authkeys: Iterable[AuthKey], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(key.pk), key.name) for key in authkeys]
        choices.append((self.COMPANY, "All keys (company whitelist)"))
        self.fields["target"].widget.choices = choices  # type: ignore[attr-defined]

    def clean_target(self) -> int | None:
        value = self.cleaned_data["target"].strip()
        if value == self.COMPANY:
            return None
        if value.isascii() and value.isdigit():
            return int(value)
        raise ValidationError("Choose a key, or all keys (company whitelist).", code="invalid")
