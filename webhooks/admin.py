"""Staff admin for webhooks. Never shows a secret: EndpointSecret rows hold only a salt, and the
admin does not even show that (only when a secret was made and until when it signs).

Endpoints are changed through webhooks.services (audited): the admin offers enable/disable
actions and read-only detail; deliveries are evidence (read-only) with a "resend" action.
"""

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from authkeys.auth import client_ip
from webhooks import services
from webhooks.models import Delivery, Endpoint, EndpointSecret


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SecretInline(admin.TabularInline):
    model = EndpointSecret
    fields = ("created_at", "expires_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Endpoint)
class EndpointAdmin(_ReadOnly):
    list_display = ("url", "company", "active", "event_types", "disabled_reason", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "company__name", "company__registered_email")
    list_select_related = ("company",)
    readonly_fields = (
        "company",
        "url",
        "description",
        "event_types",
        "active",
        "disabled_reason",
        "created_by",
        "created_at",
        "updated_at",
    )
    inlines = [SecretInline]
    actions = ["enable", "disable"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _switch(self, request: HttpRequest, queryset: QuerySet[Endpoint], active: bool) -> None:
        done = 0
        for endpoint in queryset:
            try:
                services.endpoint_set_active(
                    endpoint=endpoint,
                    actor=cast(User, request.user),
                    active=active,
                    reason="Disabled by staff",
                    actor_ip=client_ip(request),
                )
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{endpoint}: {' '.join(error.messages)}", messages.ERROR)
        self.message_user(request, f"{done} endpoint(s) {'enabled' if active else 'disabled'}.")

    @admin.action(description="Enable the selected endpoints")
    def enable(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        self._switch(request, queryset, True)

    @admin.action(description="Disable the selected endpoints (queued events are given up)")
    def disable(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        self._switch(request, queryset, False)


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "latency_ms",
        "next_retry_at",
        "last_error",
    )
    list_filter = ("status", "is_test", "event_type")
    search_fields = ("=event_id", "endpoint__url")
    list_select_related = ("endpoint",)
    raw_id_fields = ("endpoint",)
    actions = ["resend"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Resend the selected (delivered or failed) events")
    def resend(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for delivery in queryset:
            try:
                services.delivery_resend(delivery=delivery)
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{delivery}: {' '.join(error.messages)}", messages.WARNING)
        self.message_user(request, f"{done} event(s) queued again.")
