from django.urls import path

from messaging import flows, openapi, otp, views, views_catalog
from messaging.dialects import gatewayapi, infobip, infobip_keys, msg91, smsgatewaycenter

app_name = "messaging"

urlpatterns = [
    # The wire API first: portal/urls.py includes this module first too, so that an API request is
    # matched after a handful of patterns instead of after every page (bench/api.sh, cases c, e, f).
    # MSG91 dialect
    path("api/sendhttp.php", msg91.sendhttp, name="msg91_sendhttp"),
    path("api/v2/sendsms", msg91.sendsms_v2, name="msg91_sendsms_v2"),
    path("api/v5/report", msg91.report, name="msg91_report"),
    path("api/v5/report/<str:request_id>", msg91.report, name="msg91_report_id"),
    path("api/getReport.php", msg91.report, name="msg91_get_report"),
    path("api/v5/flow/", flows.flow, name="msg91_flow"),
    path("api/v5/flow", flows.flow, name="msg91_flow_no_slash"),
    path("api/sendotp.php", otp.endpoint, name="msg91_sendotp"),
    path("api/retryotp.php", otp.endpoint, name="msg91_retryotp"),
    path("api/verifyRequestOTP.php", otp.endpoint, name="msg91_verify_otp"),
    path("api/v5/otp", otp.endpoint, name="msg91_otp"),
    path("api/v5/otp/retry", otp.endpoint, name="msg91_otp_retry"),
    path("api/v5/otp/verify", otp.endpoint, name="msg91_otp_verify"),
    # Infobip dialect
    path("auth/1/session", infobip.session, name="infobip_session"),
    path("auth/1/oauth2/token", infobip.oauth_token, name="infobip_oauth_token"),
    path("sms/2/text/advanced", infobip.send_v2, name="infobip_send_v2"),
    path("sms/3/messages", infobip.send_v3, name="infobip_send_v3"),
    path("sms/3/reports", infobip.reports_v3, name="infobip_reports_v3"),
    path("sms/3/logs", infobip.logs_v3, name="infobip_logs_v3"),
    path("sms/1/reports", infobip.reports_v1, name="infobip_reports_v1"),
    path("sms/1/logs", infobip.logs_v1, name="infobip_logs_v1"),
    path("settings/2/api-keys", infobip_keys.api_keys, name="infobip_api_keys"),
    path("settings/2/api-keys/<str:apiKeyId>", infobip_keys.api_key, name="infobip_api_key"),
    # GatewayAPI dialect
    path("mobile/single", gatewayapi.mobile_single, name="gatewayapi_mobile_single"),
    # SMSGatewayCenter dialect
    path(
        "SMSApi/rest/regenerateAPIKey",
        smsgatewaycenter.regenerate_api_key,
        name="smsgatewaycenter_regenerate_api_key",
    ),
    # Panel pages
    path("sms/failed-logs/", views.FailedLogsView.as_view(), name="failed_logs"),
    path(
        "sms/failed-logs/<int:pk>/whitelist/",
        views.FailedLogWhitelistView.as_view(),
        name="failed_log_whitelist",
    ),
    path("sms/debug/", views.DebugView.as_view(), name="debug"),
    path("sms/sender-ids/", views_catalog.SenderIdsView.as_view(), name="sender_ids"),
    path("sms/groups/", views_catalog.ContactGroupsView.as_view(), name="contact_groups"),
    path("sms/groups/<int:pk>/", views_catalog.ContactGroupView.as_view(), name="contact_group"),
    path(
        "sms/groups/<int:pk>/rename/",
        views_catalog.ContactGroupRenameView.as_view(),
        name="contact_group_rename",
    ),
    path(
        "sms/groups/<int:pk>/delete/",
        views_catalog.ContactGroupDeleteView.as_view(),
        name="contact_group_delete",
    ),
    path(
        "sms/groups/<int:pk>/members/<int:member_pk>/remove/",
        views_catalog.GroupMemberRemoveView.as_view(),
        name="group_member_remove",
    ),
    path("sms/flows/", views_catalog.FlowsView.as_view(), name="flows"),
    path("sms/flows/<int:pk>/", views_catalog.FlowView.as_view(), name="flow"),
    path("api-docs/error-codes/", views.ErrorCodesView.as_view(), name="error_codes"),
    path("api-docs/", views.ApiDocsView.as_view(), name="api_docs"),
    path("api/openapi.json", openapi.openapi_json, name="openapi"),
]
