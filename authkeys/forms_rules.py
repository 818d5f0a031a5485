"""Forms of Settings → Rules. They only shape the input; the rules themselves (names, duplicates,
at least one service, replacement of a rule in use) live in authkeys.services."""

from typing import Any

from django import forms
from django.db.models import QuerySet

from authkeys import selectors
from authkeys.models import Rule, Service


class ServicesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        service: Service = obj
        return f"{service.name} — {service.description}" if service.description else service.name


class RuleForm(forms.Form):
    name = forms.CharField(label="Rule name", max_length=60, required=False)
    # Not required here: the service says "Pick at least one service" in its own words.
    services = ServicesField(
        label="Services a key with this rule may use",
        queryset=Service.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        services_field: forms.ModelMultipleChoiceField = self.fields["services"]  # type: ignore[assignment]
        services_field.queryset = selectors.services_catalogue()


class RuleDeleteForm(forms.Form):
    replacement = forms.ModelChoiceField(
        label="Keys using this rule switch to",
        queryset=Rule.objects.none(),
        required=False,
        empty_label="Choose a rule…",
    )

    def __init__(self, *args: Any, choices: QuerySet[Rule], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        replacement_field: forms.ModelChoiceField = self.fields["replacement"]  # type: ignore[assignment]
        replacement_field.queryset = choices
