from django import forms
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from alerts.models import Alert


class AlertFilterForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "All kinds"), *Alert.Kind.choices])
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Alert.Status.choices]
    )
    before = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)

    def clean_before(self):  # type: ignore[no-untyped-def]
        raw = self.cleaned_data["before"].strip()
        if not raw:
            return None
        at, _, pk = raw.partition("|")
        parsed = parse_datetime(at)
        if parsed is None or not (pk.isascii() and pk.isdigit()):
            raise ValidationError("The page cursor is not valid: start again from the first page.")
        return parsed, int(pk)
