"""Staff admin for alerts: read-only rows (what was sent is evidence) and a "resend" action that
goes through alerts.services.alert_resend, like everything else that changes an alert."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts import services
from alerts.models import Alert, AlertWindow
from authkeys.admin import ReadOnlyAdminMixin


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "company", "kind", "channel", "status", "attempts", "subject", "sent_at")
    list_filter = ("status", "kind", "channel", "created_at")
    list_select_related = ("company",)
    search_fields = ("company__name", "=company__registered_email", "=dedupe_key", "subject")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "company",
        "kind",
        "channel",
        "status",
        "attempts",
        "last_error",
        "dedupe_key",
        "subject",
        "summary",
        "details",
        "refusal_count",
        "suppressed_count",
        "window",
        "security_event",
        "claimed_at",
        "next_attempt_at",
        "sent_at",
    )
    readonly_fields = fields
    actions = ["resend"]

    @admin.action(description="Resend the selected alerts (failed, suppressed or sent ones)")
    def resend(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        resent = sum(services.alert_resend(alert_id=pk) for pk in queryset.values_list("pk", flat=True))
        skipped = queryset.count() - resent
        self.message_user(request, f"{resent} alert(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} alert(s) skipped: still pending or being sent.", messages.WARNING
            )


@admin.register(AlertWindow)
class AlertWindowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "opened_at",
        "company",
        "family",
        "closes_at",
        "refusals",
        "alerted_groups",
        "suppressed_groups",
        "digested_at",
    )
    list_filter = ("family", "is_open")
    list_select_related = ("company",)
    search_fields = ("company__name",)
