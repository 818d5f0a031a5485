from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("sms/failed-logs/", views.FailedLogsView.as_view(), name="failed_logs"),
    path("settings/webhooks/", views.WebhooksView.as_view(), name="webhooks"),
    path("api-docs/", views.ApiDocsView.as_view(), name="api_docs"),
]
