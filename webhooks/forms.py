"""Forms of the Webhooks pages: the shape of the input; the rules (SSRF, limits) live in services."""

from django import forms

from webhooks.models import EVENT_TYPES

GRACE_CHOICES = [
    (0, "Immediately"),
    (60 * 60, "After 1 hour"),
    (24 * 60 * 60, "After 24 hours"),
    (7 * 24 * 60 * 60, "After 7 days"),
]


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        required=False,  # the service says what is wrong, in words
        help_text="https:// (or http://) address of your receiver, reachable from the internet.",
        widget=forms.URLInput(attrs={"autocomplete": "off", "placeholder": "https://example.com/hooks/sms"}),
    )
    description = forms.CharField(label="Description", max_length=100, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=list(EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=list(EVENT_TYPES),
    )


class SwitchForm(forms.Form):
    active = forms.TypedChoiceField(
        choices=[("1", "on"), ("0", "off")],
        coerce=lambda value: value == "1",
        error_messages={"required": "Choose on or off.", "invalid_choice": "Choose on or off."},
    )


class RotateForm(forms.Form):
    grace_seconds = forms.TypedChoiceField(
        label="The current secret stops signing",
        choices=GRACE_CHOICES,
        coerce=int,
        initial=24 * 60 * 60,
        help_text="Until then every request carries two signatures (new and old), so your receiver "
        "keeps working while you deploy the new secret.",
        error_messages={"invalid_choice": "Choose one of the listed grace periods."},
    )
