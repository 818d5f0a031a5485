from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.codes import CODE_LENGTH, looks_like_code
from accounts.models import Company, ContactChange, User
from accounts.phone import normalize_mobile


class MobileField(forms.CharField):
    """A mobile number in any common notation, cleaned to E.164."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", "With country code, e.g. +91 98765 43210")
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "tel", "autocomplete": "tel"})

    def clean(self, value: Any) -> str:
        return normalize_mobile(super().clean(value))


class CodeField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Verification code")
        super().__init__(max_length=12, **kwargs)
        self.widget.attrs.update(
            {
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "pattern": "[0-9 ]*",
                "autofocus": True,
            }
        )

    def clean(self, value: Any) -> str:
        code = "".join(str(super().clean(value)).split())
        if not looks_like_code(code):
            raise ValidationError(f"Enter the {CODE_LENGTH}-digit code, digits only.", code="format")
        return code


class SignUpForm(forms.Form):
    company_name = forms.CharField(max_length=120, label="Company name")
    registered_mobile = MobileField(label="Registered mobile")
    registered_email = forms.EmailField(label="Registered email", help_text="Security alerts go here.")
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    email = forms.EmailField(
        label="Your login email", widget=forms.EmailInput(attrs={"autocomplete": "username"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_company_name(self) -> str:
        name = self.cleaned_data["company_name"].strip()
        if not name:
            raise ValidationError("Enter the company's name.", code="required")
        return name

    def clean_registered_mobile(self) -> str:
        mobile = self.cleaned_data["registered_mobile"]
        if Company.objects.filter(registered_mobile=mobile).exists():
            raise ValidationError("A company with this registered mobile already exists.", code="taken")
        return mobile

    def clean_registered_email(self) -> str:
        address = self.cleaned_data["registered_email"].lower()
        if Company.objects.filter(registered_email__iexact=address).exists():
            raise ValidationError("A company with this registered email already exists.", code="taken")
        return address

    def clean_email(self) -> str:
        address = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=address).exists():
            raise ValidationError("A user with this email already exists. Log in instead.", code="taken")
        return address

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        elif password1:
            probe = User(email=data.get("email", ""), full_name=data.get("full_name", ""))
            try:
                password_validation.validate_password(password1, probe)
            except ValidationError as error:
                self.add_error("password1", error)
        return data


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        "invalid_login": "That email and password do not match an account. Passwords are case-sensitive.",
        "inactive": "This account is disabled.",
    }


class GateMobileForm(forms.Form):
    mobile = MobileField(label="Registered mobile number")


class CodeForm(forms.Form):
    code = CodeField()


class CompanyNameForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = ["name"]


class ContactChangeForm(forms.Form):
    kind = forms.ChoiceField(choices=ContactChange.Kind.choices, widget=forms.HiddenInput)
    new_value = forms.CharField(max_length=254, label="New value")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, raw = data.get("kind"), data.get("new_value")
        if kind and raw:
            try:
                if kind == ContactChange.Kind.MOBILE:
                    data["new_value"] = normalize_mobile(raw)
                else:
                    data["new_value"] = forms.EmailField().clean(raw).lower()
            except ValidationError as error:
                self.add_error("new_value", error)
        return data


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="Email")
    full_name = forms.CharField(max_length=150, required=False, label="Name")
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.MEMBER)

    def clean_email(self) -> str:
        address = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=address).exists():
            raise ValidationError("A user with this email already exists.", code="taken")
        return address


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=User.Role.choices)
