from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from authkeys.ipaddrs import normalize_entry
from messaging import flows, sessions
from messaging.api import parse_mobiles
from messaging.models import (
    ApiSession,
    BlockedIP,
    BlockedKeyword,
    BlockedSender,
    CompanyRouting,
    ContactGroup,
    FailedRequest,
    Flow,
    GroupMember,
    Message,
    OAuthAccessToken,
    OtpRequest,
    Recipient,
    Route,
    SenderId,
)


class RecipientInline(admin.TabularInline):
    model = Recipient
    fields = ("msisdn", "status", "error", "status_at", "message_uid")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


class _ReadOnly(admin.ModelAdmin):
    """What the API recorded is evidence: staff read it, nobody edits it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(_ReadOnly):
    list_display = (
        "request_id",
        "company",
        "sender",
        "recipient_count",
        "parts",
        "credits",
        "delivery",
        "created_at",
    )
    list_filter = ("delivery", "dialect", "encoding", "created_at")
    search_fields = ("request_id", "company__name", "sender", "campaign")
    list_select_related = ("company",)
    raw_id_fields = ("company", "authkey")
    inlines = [RecipientInline]


@admin.register(FailedRequest)
class FailedRequestAdmin(_ReadOnly):
    list_display = ("created_at", "code", "company", "client_ip", "endpoint", "key_prefix", "reason")
    list_filter = ("code", "dialect", "created_at")
    search_fields = ("client_ip", "key_prefix", "company__name", "reason")
    list_select_related = ("company",)


# --- Infobip credentials (messaging/sessions.py): read-only, revocable, digests never shown -----


class _Credentials(_ReadOnly):
    """Staff see who holds a session or token and until when, never its digest; the only change
    is revoking (a service call: the token stops working at once)."""

    list_filter = ("created_at", "expires_at")
    date_hierarchy = "created_at"
    actions = ("revoke",)

    @admin.display(boolean=True, description="live")
    def live(self, obj: ApiSession | OAuthAccessToken) -> bool:
        return obj.expires_at > timezone.now()

    @admin.action(description="Revoke the selected credentials (they stop working at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:  # type: ignore[type-arg]
        ids = list(queryset.values_list("pk", flat=True))
        if queryset.model is ApiSession:
            count = sessions.sessions_revoke(session_ids=ids)
        else:
            count = sessions.access_tokens_revoke(token_ids=ids)
        self.message_user(request, f"{count} revoked.")


@admin.register(ApiSession)
class ApiSessionAdmin(_Credentials):
    list_display = ("user", "bound_ip", "unsafe", "created_at", "expires_at", "live")
    search_fields = ("user__email", "bound_ip")
    list_select_related = ("user",)
    fields = ("user", "bound_ip", "unsafe", "created_at", "expires_at", "live")
    readonly_fields = fields


@admin.register(OAuthAccessToken)
class OAuthAccessTokenAdmin(_Credentials):
    list_display = ("authkey", "company", "created_at", "expires_at", "live")
    search_fields = ("key_secret__authkey__display_prefix", "key_secret__authkey__company__name")
    list_select_related = ("key_secret__authkey__company",)
    fields = ("authkey", "company", "created_at", "expires_at", "live")
    readonly_fields = fields

    @admin.display(description="API key", ordering="key_secret__authkey__name")
    def authkey(self, obj: OAuthAccessToken) -> str:
        return str(obj.key_secret.authkey)

    @admin.display(description="company")
    def company(self, obj: OAuthAccessToken) -> str:
        return str(obj.key_secret.authkey.company)


@admin.register(OtpRequest)
class OtpRequestAdmin(_ReadOnly):
    """MSG91 OTP requests (messaging/otp.py): state only, never the code's digest."""

    list_display = ("mobile", "company", "code_length", "attempts", "retries", "verified_at", "valid_until")
    list_filter = ("created_at",)
    search_fields = ("mobile", "company__name")
    list_select_related = ("company",)
    fields = (
        "company", "authkey", "mobile", "sender", "template", "code_length", "attempts", "retries",
        "verified_at", "valid_until", "message", "created_at",
    )  # fmt: skip
    readonly_fields = fields


class BlockedIPForm(forms.ModelForm):
    class Meta:
        model = BlockedIP
        fields = ("network", "reason")

    def clean_network(self) -> str:
        return normalize_entry(self.cleaned_data["network"])


@admin.register(BlockedIP)
class BlockedIPAdmin(admin.ModelAdmin):
    form = BlockedIPForm
    list_display = ("network", "reason", "created_at")
    search_fields = ("network", "reason")


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    """Flows (MSG91 templates): staff approve, reject, enable and disable them with the actions;
    editing an approved flow's text returns it to pending approval."""

    list_display = ("name", "flow_id", "company", "status", "enabled", "sender", "route", "created_at")
    list_filter = ("status", "enabled", "created_at")
    search_fields = ("flow_id", "name", "company__name")
    list_select_related = ("company",)
    raw_id_fields = ("company",)
    readonly_fields = ("flow_id", "status", "created_at")
    fields = ("company", "name", "flow_id", "template", "sender", "route", "status", "enabled", "created_at")
    actions = ("approve", "reject", "enable", "disable")

    def save_model(self, request: HttpRequest, obj: Flow, form: forms.ModelForm, change: bool) -> None:
        if change and "template" in form.changed_data and obj.status == Flow.Status.APPROVED:
            obj.status = Flow.Status.PENDING
            self.message_user(request, "The text changed: the flow awaits approval again.", messages.WARNING)
        super().save_model(request, obj, form, change)

    @admin.action(description="Approve selected flows")
    def approve(self, request: HttpRequest, queryset: QuerySet[Flow]) -> None:
        count = flows.flows_set_status(queryset, Flow.Status.APPROVED)
        self.message_user(request, f"{count} flow(s) approved.")

    @admin.action(description="Reject selected flows")
    def reject(self, request: HttpRequest, queryset: QuerySet[Flow]) -> None:
        count = flows.flows_set_status(queryset, Flow.Status.REJECTED)
        self.message_user(request, f"{count} flow(s) rejected.")

    @admin.action(description="Enable selected flows")
    def enable(self, request: HttpRequest, queryset: QuerySet[Flow]) -> None:
        count = flows.flows_set_enabled(queryset, True)
        self.message_user(request, f"{count} flow(s) enabled.")

    @admin.action(description="Disable selected flows")
    def disable(self, request: HttpRequest, queryset: QuerySet[Flow]) -> None:
        count = flows.flows_set_enabled(queryset, False)
        self.message_user(request, f"{count} flow(s) disabled.")


# --- Sending policy (messaging/policy.py) -------------------------------------------------------


@admin.register(SenderId)
class SenderIdAdmin(admin.ModelAdmin):
    readonly_fields = ("created_at",)
    list_display = ("sender", "company", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("sender", "company__name")
    list_select_related = ("company",)
    raw_id_fields = ("company",)
    actions = ["approve_senders", "reject_senders"]

    @admin.action(description="Approve the selected sender IDs")
    def approve_senders(self, request: HttpRequest, queryset: QuerySet[SenderId]) -> None:
        queryset.update(status=SenderId.Status.APPROVED)

    @admin.action(description="Reject the selected sender IDs")
    def reject_senders(self, request: HttpRequest, queryset: QuerySet[SenderId]) -> None:
        queryset.update(status=SenderId.Status.REJECTED)


@admin.register(BlockedSender)
class BlockedSenderAdmin(admin.ModelAdmin):
    readonly_fields = ("created_at",)
    list_display = ("sender", "reason", "created_at")
    search_fields = ("sender", "reason")


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ("code", "available", "enabled", "requires_dlt")
    list_editable = ("available", "enabled", "requires_dlt")


@admin.register(CompanyRouting)
class CompanyRoutingAdmin(admin.ModelAdmin):
    list_display = ("company", "default_route", "dlt_entity_id")
    search_fields = ("company__name", "dlt_entity_id")
    list_select_related = ("company", "default_route")
    raw_id_fields = ("company",)


@admin.register(BlockedKeyword)
class BlockedKeywordAdmin(admin.ModelAdmin):
    readonly_fields = ("created_at",)
    list_display = ("keyword", "created_at")
    search_fields = ("keyword",)


class GroupMemberForm(forms.ModelForm):
    class Meta:
        model = GroupMember
        fields = ("msisdn",)

    def clean_msisdn(self) -> str:
        raw = self.cleaned_data["msisdn"]
        valid, invalid = parse_mobiles(raw, None)
        if len(valid) != 1 or invalid:
            raise forms.ValidationError(f"{raw!r} is not one mobile number with its country code.")
        return valid[0]


class GroupMemberInline(admin.TabularInline):
    model = GroupMember
    form = GroupMemberForm
    extra = 3


@admin.register(ContactGroup)
class ContactGroupAdmin(admin.ModelAdmin):
    readonly_fields = ("created_at",)
    list_display = ("name", "pk", "company", "created_at")
    search_fields = ("name", "company__name")
    list_select_related = ("company",)
    raw_id_fields = ("company",)
    inlines = [GroupMemberInline]
