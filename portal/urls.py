from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal import views
from reports import views as reports_views

urlpatterns = [
    # The wire API (in messaging.urls) first: it answers most requests (see messaging/urls.py).
    path("", include("messaging.urls")),
    path("", RedirectView.as_view(pattern_name="portal:dashboard", permanent=False)),
    path(
        "",
        include(
            (
                [
                    path("dashboard/", reports_views.DashboardView.as_view(), name="dashboard"),
                    path("dev/outbox/", views.dev_outbox_view, name="dev_outbox"),
                    path("healthz", views.healthz, name="healthz"),
                ],
                "portal",
            )
        ),
    ),
    path("accounts/", include("accounts.urls")),
    path("authkey/", include("authkeys.urls")),
    path("settings/webhooks/", include("webhooks.urls")),
    path("settings/alerts/", include("alerts.urls")),
    path("", include("reports.urls")),
    path("staff/", admin.site.urls),
]
