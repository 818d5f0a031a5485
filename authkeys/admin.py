"""Staff admin for the Authkey section.

Never shows a secret: KeySecret.digest is excluded everywhere (keys are listed by display prefix).
Security state changes only through authkeys.services, so every change made here writes its
SecurityEvent and invalidates the cached grants exactly as the panel does:
- keys are read-only; enable/disable and IP security are admin actions; deletion calls the service;
- allowed IPs can be looked at and deleted (through the service); they are added from the panel
  or with the whitelist_ip command;
- rules are created, changed and deleted through the rule services; the built-in rule is fixed;
- the audit log (SecurityEvent), RecentIP and KeySecret are read-only.
"""

from collections.abc import Callable, Sequence
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from accounts.models import User
from authkeys import services
from authkeys.auth import client_ip
from authkeys.models import (
    ApiSecurity,
    AuthKey,
    CompanyAllowedIP,
    KeyAllowedIP,
    KeySecret,
    RecentIP,
    Rule,
    SecurityEvent,
    Service,
)


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


class ReadOnlyAdminMixin:
    """View only: no add, change or delete, whoever asks (audit data is immutable)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Services and rules ------------------------------------------------------------------------


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "description")
    search_fields = ("name", "code", "description")

    def get_readonly_fields(self, request: HttpRequest, obj: Service | None = None) -> tuple[str, ...]:
        # Code checks grants by service code: a code is fixed once it exists.
        return ("code",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Service | None = None) -> bool:
        # Deleting a service would change rules (and cached grants) without an audit event.
        return False


class RuleAdminForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ("company", "name", "services")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        company = self.instance.company if self.instance.pk else cleaned.get("company")
        if company is None or "name" not in cleaned or "services" not in cleaned:
            return cleaned
        try:
            cleaned["name"] = services.rule_clean(
                company,
                cleaned["name"],
                list(cleaned["services"]),
                exclude_pk=self.instance.pk,
            )
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleAdminForm
    list_display = ("name", "company", "all_services", "key_count", "created_at")
    list_filter = ("all_services", "created_at")
    list_select_related = ("company",)
    search_fields = ("name", "company__name", "company__registered_email")
    autocomplete_fields = ("company",)
    filter_horizontal = ("services",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rule]:
        return super().get_queryset(request).annotate(key_count=Count("authkeys"))

    @admin.display(description="keys", ordering="key_count")
    def key_count(self, obj: Rule) -> int:
        return obj.key_count  # type: ignore[attr-defined]

    def get_fields(self, request: HttpRequest, obj: Rule | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("company", "name", "services")
        return ("company", "name", "all_services", "services", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Rule | None = None) -> tuple[str, ...]:
        return ("company", "all_services", "created_at") if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Rule | None = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields["company"].required = True
        return form

    def has_change_permission(self, request: HttpRequest, obj: Rule | None = None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Rule | None = None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Rule, form: forms.ModelForm, change: bool) -> None:
        chosen = list(form.cleaned_data["services"])
        if change:
            current = Rule.objects.get(pk=obj.pk)
            rule = services.rule_update(
                rule=current,
                actor=_actor(request),
                name=form.cleaned_data["name"],
                services=chosen,
                actor_ip=client_ip(request),
            )
        else:
            rule = services.rule_create(
                company=form.cleaned_data["company"],
                actor=_actor(request),
                name=form.cleaned_data["name"],
                services=chosen,
                actor_ip=client_ip(request),
            )
            obj.pk = rule.pk
            obj.created_at = rule.created_at
            obj._state.adding = False
            obj._state.db = rule._state.db
        obj.name = rule.name

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        # The services were set by the rule service in save_model.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        # A rule in use is PROTECTed: the admin refuses it before getting here. The panel's
        # delete-with-replacement is the way to retire a rule in use.
        services.rule_delete(rule=obj, actor=_actor(request), actor_ip=client_ip(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        for rule in queryset.select_related("company"):
            self.delete_model(request, rule)


# --- Keys --------------------------------------------------------------------------------------


class KeySecretInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = KeySecret
    fields = ("valid_until", "created_at")
    readonly_fields = fields
    extra = 0
    verbose_name = "secret (digest never shown)"
    verbose_name_plural = "secrets (the current one has no end; digests are never shown)"


class KeyAllowedIPInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = KeyAllowedIP
    fields = ("network", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    verbose_name = "whitelisted IP"
    verbose_name_plural = "whitelisted IPs of this key (delete them from “Key allowed IPs”)"


def _key_action(
    name: str, description: str, setter: Callable[..., AuthKey], field: str, value: bool, done: str
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[AuthKey]], None]:
    """An action that sets `field` to `value` on each selected key through `setter` (a service)."""

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[AuthKey]) -> None:
        changed = 0
        for authkey in queryset:
            if getattr(authkey, field) != value:
                setter(authkey=authkey, actor=_actor(request), enabled=value, actor_ip=client_ip(request))
                changed += 1
        unchanged = queryset.count() - changed
        text = f"{changed} key(s) {done}."
        if unchanged:
            text += f" {unchanged} already were."
        modeladmin.message_user(request, text, messages.SUCCESS)

    action.__name__ = name
    return admin.action(description=description, permissions=["change"])(action)


@admin.register(AuthKey)
class AuthKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "display_prefix",
        "company",
        "use_case",
        "rule",
        "ip_security",
        "enabled",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "created_at",
    )
    list_filter = ("enabled", "ip_security", "rule__all_services", "expires_at", "created_at", "last_used_at")
    list_select_related = ("company", "rule")
    search_fields = (
        "name",
        "=display_prefix",
        "use_case",
        "company__name",
        "company__registered_email",
        "company__registered_mobile",
    )
    fields = (
        "company",
        "name",
        "display_prefix",
        "use_case",
        "rule",
        "ip_security",
        "enabled",
        "valid_from",
        "expires_at",
        "created_by",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "company_allowed_ips",
    )
    # Everything is read-only: security state changes through the actions (services) only.
    readonly_fields = fields
    inlines = (KeyAllowedIPInline, KeySecretInline)
    actions = (
        _key_action(
            "disable_keys",
            "Disable selected keys",
            services.authkey_set_enabled,
            "enabled",
            False,
            "disabled",
        ),
        _key_action(
            "enable_keys", "Enable selected keys", services.authkey_set_enabled, "enabled", True, "enabled"
        ),
        _key_action(
            "ip_security_off",
            "Turn IP security off for selected keys",
            services.authkey_set_ip_security,
            "ip_security",
            False,
            "had IP security turned off",
        ),
        _key_action(
            "ip_security_on",
            "Turn IP security on for selected keys",
            services.authkey_set_ip_security,
            "ip_security",
            True,
            "had IP security turned on",
        ),
    )

    @admin.display(description="company's whitelisted IPs (for all its keys)")
    def company_allowed_ips(self, obj: AuthKey) -> str:
        entries = CompanyAllowedIP.objects.filter(company_id=obj.company_id).values_list("network")
        link = (
            reverse("admin:authkeys_companyallowedip_changelist")
            + "?"
            + urlencode({"company__id__exact": obj.company_id})
        )
        listed = format_html_join(", ", "{}", entries) or "none"
        return format_html('{} (<a href="{}">open</a>)', listed, link)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # The secret must be shown once to whoever creates the key: the panel or create_authkey.
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuthKey | None = None) -> bool:
        # The change page is view-only; the list keeps change permission for the actions.
        return obj is None and super().has_change_permission(request)

    def get_deleted_objects(self, objs: Sequence[AuthKey] | QuerySet[AuthKey], request: HttpRequest):  # type: ignore[no-untyped-def]
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A key's secrets and IPs go with it through authkey_delete, which staff may call.
        perms_needed -= {KeySecret._meta.verbose_name, KeyAllowedIP._meta.verbose_name}
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: AuthKey) -> None:
        services.authkey_delete(authkey=obj, actor=_actor(request), actor_ip=client_ip(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AuthKey]) -> None:
        for authkey in queryset:
            self.delete_model(request, authkey)


@admin.register(KeySecret)
class KeySecretAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("authkey", "company", "valid_until", "created_at")
    list_filter = (("valid_until", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("authkey__company",)
    search_fields = ("authkey__name", "=authkey__display_prefix", "authkey__company__name")
    fields = ("authkey", "valid_until", "created_at")  # never the digest
    exclude = ("digest",)

    @admin.display(ordering="authkey__company__name")
    def company(self, obj: KeySecret) -> str:
        return str(obj.authkey.company)


# --- Allow-lists ---------------------------------------------------------------------------------


class AllowedIPAdmin(admin.ModelAdmin):
    """Look and delete (through the service); additions come from the panel or whitelist_ip."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for allowed in queryset:
            self.delete_model(request, allowed)


@admin.register(KeyAllowedIP)
class KeyAllowedIPAdmin(AllowedIPAdmin):
    list_display = ("network", "authkey", "company", "created_by", "created_at")
    list_filter = ("created_at",)
    list_select_related = ("authkey__company", "created_by")
    search_fields = (
        "network",
        "authkey__name",
        "=authkey__display_prefix",
        "authkey__company__name",
        "authkey__company__registered_email",
    )
    fields = ("authkey", "network", "created_by", "created_at")
    raw_id_fields = ("authkey", "created_by")

    @admin.display(ordering="authkey__company__name")
    def company(self, obj: KeyAllowedIP) -> str:
        return str(obj.authkey.company)

    def delete_model(self, request: HttpRequest, obj: KeyAllowedIP) -> None:
        services.key_ip_delete(allowed=obj, actor=_actor(request), actor_ip=client_ip(request))


@admin.register(CompanyAllowedIP)
class CompanyAllowedIPAdmin(AllowedIPAdmin):
    list_display = ("network", "company", "created_by", "created_at")
    list_filter = ("created_at",)
    list_select_related = ("company", "created_by")
    search_fields = ("network", "company__name", "company__registered_email", "company__registered_mobile")
    fields = ("company", "network", "created_by", "created_at")
    raw_id_fields = ("company", "created_by")

    def delete_model(self, request: HttpRequest, obj: CompanyAllowedIP) -> None:
        services.company_ip_delete(allowed=obj, actor=_actor(request), actor_ip=client_ip(request))


@admin.register(ApiSecurity)
class ApiSecurityAdmin(admin.ModelAdmin):
    list_display = ("company", "additional_security")
    list_filter = ("additional_security",)
    list_select_related = ("company",)
    search_fields = ("company__name", "company__registered_email", "company__registered_mobile")
    fields = ("company", "additional_security")
    readonly_fields = fields
    actions = ("additional_security_on", "additional_security_off")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiSecurity | None = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: ApiSecurity | None = None) -> bool:
        return False

    def _set(self, request: HttpRequest, queryset: QuerySet[ApiSecurity], enabled: bool) -> None:
        done = 0
        for row in queryset.select_related("company"):
            try:
                services.additional_security_set(
                    company=row.company, actor=_actor(request), enabled=enabled, actor_ip=client_ip(request)
                )
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{row.company}: {' '.join(error.messages)}", messages.ERROR)
        if done:
            state = "on" if enabled else "off"
            self.message_user(
                request, f"Additional Security is {state} for {done} companies.", messages.SUCCESS
            )

    @admin.action(description="Turn Additional Security on", permissions=["change"])
    def additional_security_on(self, request: HttpRequest, queryset: QuerySet[ApiSecurity]) -> None:
        self._set(request, queryset, True)

    @admin.action(description="Turn Additional Security off", permissions=["change"])
    def additional_security_off(self, request: HttpRequest, queryset: QuerySet[ApiSecurity]) -> None:
        self._set(request, queryset, False)


# --- Read-only records -----------------------------------------------------------------------------


@admin.register(RecentIP)
class RecentIPAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "ip",
        "company",
        "request_count",
        "last_outcome",
        "last_code",
        "last_key",
        "first_seen",
        "last_seen",
    )
    list_filter = ("last_outcome", "last_seen")
    list_select_related = ("company", "last_key")
    search_fields = ("ip", "company__name", "last_key__name", "=last_key__display_prefix")
    date_hierarchy = "last_seen"


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "company", "kind", "target", "actor_user", "actor_key", "actor_ip")
    list_filter = ("kind", "created_at")
    list_select_related = ("company", "actor_user", "actor_key", "authkey")
    search_fields = (
        "target",
        "company__name",
        "actor_user__email",
        "actor_ip",
        "authkey__name",
        "=authkey__display_prefix",
    )
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "company",
        "kind",
        "target",
        "authkey",
        "actor_user",
        "actor_key",
        "actor_ip",
        "before",
        "after",
    )
