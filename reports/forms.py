from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from authkeys.models import AuthKey
from messaging.api import parse_mobiles
from messaging.models import Recipient
from messaging.selectors import is_request_id
from reports.selectors import MessageFilters


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class ReportFilterForm(forms.Form):
    request_id = forms.CharField(required=False, max_length=40, label="Request id")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Recipient.Status.choices])
    key = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Key")
    number = forms.CharField(required=False, max_length=20, label="Number")
    campaign = forms.CharField(required=False, max_length=32, label="Campaign")
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, authkeys: Iterable[AuthKey] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [("", "Any key")] + [  # type: ignore[attr-defined]
            (str(key.pk), key.name) for key in authkeys
        ]

    def clean_request_id(self) -> str:
        value = self.cleaned_data["request_id"].strip().lower()
        if value and not is_request_id(value):
            raise ValidationError(
                "A request id has 24 hexadecimal characters, e.g. 87da1b3f4a5ab07021fa64bb."
            )
        return value

    def clean_number(self) -> str:
        raw = self.cleaned_data["number"].strip()
        if not raw:
            return ""
        valid, _ = parse_mobiles(raw, None)
        if len(valid) != 1:
            raise ValidationError(
                "“%(number)s” is not a mobile number; type it with its country code, e.g. 919876543210.",
                params={"number": raw},
            )
        return valid[0]

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "“To” must not be before “From”.")
        return data

    def filters(self) -> MessageFilters:
        data = self.cleaned_data
        return MessageFilters(
            since=_day_start(data["since"]) if data.get("since") else None,
            until=_day_start(data["until"]) + timedelta(days=1) if data.get("until") else None,
            status=data.get("status", ""),
            authkey_id=data.get("key"),
            number=data.get("number", ""),
            campaign=data.get("campaign", "").strip(),
            request_id=data.get("request_id", ""),
        )


class LowBalanceForm(forms.Form):
    threshold = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10**12,
        label="Alert me below",
        help_text="Credits. Leave empty for no low-balance alert.",
    )
