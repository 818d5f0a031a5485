from django import forms
from django.contrib import admin
from django.http import HttpRequest

from authkeys.ipaddrs import normalize_entry
from messaging.models import BlockedIP, FailedRequest, Message, Recipient


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
