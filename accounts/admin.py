from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts import services
from accounts.models import BalanceCredit, Company, ContactChange, SMSDevice, User


class BalanceForm(forms.Form):
    amount = forms.IntegerField(
        help_text="SMS credits to add; a negative number removes credits (never below zero)."
    )
    note = forms.CharField(
        required=False,
        max_length=200,
        help_text="Shown to the company on its Balance page (e.g. invoice number).",
    )


def _status_action(status: Company.Status):  # type: ignore[no-untyped-def]
    @admin.action(description=f"Set status: {status.label}")
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        for company in queryset:
            services.company_set_status(company=company, status=status, actor=cast(User, request.user))
        modeladmin.message_user(
            request, f"{queryset.count()} companies set to {status.label}.", messages.SUCCESS
        )

    action.__name__ = f"set_status_{status.value}"
    return action


class BalanceCreditInline(admin.TabularInline):
    """The ledger's credits, read-only: they are written only by the credit action (a service)."""

    model = BalanceCredit
    fields = ("created_at", "amount", "balance_after", "note", "actor")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "registered_mobile",
        "registered_email",
        "status",
        "sms_balance",
        "created_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("name", "registered_mobile", "registered_email")
    readonly_fields = ("sms_balance", "status", "created_at")
    inlines = [BalanceCreditInline]
    actions = [*(_status_action(s) for s in Company.Status), "credit_balance"]

    @admin.action(description="Add or remove SMS credits…")
    def credit_balance(self, request: HttpRequest, queryset: QuerySet[Company]) -> HttpResponse | None:
        form = BalanceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for company in queryset:
                try:
                    services.company_credit_balance(
                        company=company,
                        amount=form.cleaned_data["amount"],
                        actor=cast(User, request.user),
                        note=form.cleaned_data["note"],
                    )
                    done += 1
                except ValidationError as error:
                    self.message_user(request, " ".join(error.messages), messages.ERROR)
            if done:
                self.message_user(request, f"Balance changed for {done} companies.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Add or remove SMS credits",
            "form": form,
            "companies": queryset,
            "action": "credit_balance",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/company/credit_balance.html", context)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "company", "role", "is_staff", "is_active", "last_login")
    list_filter = ("role", "is_staff", "is_superuser", "is_active", "company__status")
    search_fields = ("email", "full_name", "company__name")
    autocomplete_fields = ("company",)
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "company", "role")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "company", "role", "password1", "password2"),
            },
        ),
    )


@admin.register(SMSDevice)
class SMSDeviceAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "name",
        "number",
        "confirmed",
        "throttling_failure_count",
        "last_used_at",
    )
    list_filter = ("confirmed",)
    search_fields = ("user__email", "number", "name")
    raw_id_fields = ("user",)
    # The code digest is never shown; the rest is state staff may need to read or reset.
    exclude = ("token_digest",)
    readonly_fields = (
        "valid_until",
        "last_generated_timestamp",
        "throttling_failure_timestamp",
        "created_at",
        "last_used_at",
    )


@admin.register(ContactChange)
class ContactChangeAdmin(admin.ModelAdmin):
    list_display = (
        "company",
        "kind",
        "old_value",
        "new_value",
        "created_at",
        "confirmed_at",
        "cancelled_at",
    )
    list_filter = ("kind", "created_at")
    search_fields = ("company__name", "old_value", "new_value")
    exclude = ("token_digest",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
