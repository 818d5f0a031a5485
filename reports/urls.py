from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("sms/reports/", views.ReportsView.as_view(), name="messages"),
    path("sms/reports/export.csv", views.ReportsExportView.as_view(), name="export"),
    path("balance/", views.BalanceView.as_view(), name="balance"),
]
