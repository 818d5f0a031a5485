from django import forms
from django.core.exceptions import ValidationError

from authkeys.ipaddrs import parse_client_ip
from messaging.catalogue import CATALOGUE


class FailedLogFilterForm(forms.Form):
    code = forms.ChoiceField(
        required=False,
        choices=[("", "Any code")]
        + [(c.value, f"{c.value} · {e.description[:50]}") for c, e in CATALOGUE.items()],
    )
    ip = forms.CharField(required=False, max_length=45, label="IP")
    key = forms.CharField(required=False, max_length=16, label="Key prefix")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    before = forms.CharField(required=False, widget=forms.HiddenInput)

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
