from django.urls import path

from messaging import views
from messaging.dialects import msg91

app_name = "messaging"

urlpatterns = [
    path("sms/failed-logs/", views.FailedLogsView.as_view(), name="failed_logs"),
    path("settings/webhooks/", views.WebhooksView.as_view(), name="webhooks"),
    path("api-docs/", views.ApiDocsView.as_view(), name="api_docs"),
    # MSG91 dialect
    path("api/sendhttp.php", msg91.sendhttp, name="msg91_sendhttp"),
    path("api/v2/sendsms", msg91.sendsms_v2, name="msg91_sendsms_v2"),
]
