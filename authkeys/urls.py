from django.urls import path

from authkeys import views, views_activity, views_rules

app_name = "authkeys"

# Keys, their IP panels and company-level IP security (authkeys/views.py).
key_patterns = [
    path("", views.AuthkeyIndexView.as_view(), name="index"),
    path("new/", views.KeyCreateView.as_view(), name="create"),
    path("<int:pk>/edit/", views.KeyEditView.as_view(), name="edit"),
    path(
        "<int:pk>/ip-security/",
        views.KeyToggleView.as_view(setting="ip_security"),
        name="toggle_ip_security",
    ),
    path("<int:pk>/status/", views.KeyToggleView.as_view(setting="status"), name="toggle_status"),
    path("<int:pk>/regenerate/", views.KeyRegenerateView.as_view(), name="regenerate"),
    path("<int:pk>/delete/", views.KeyDeleteView.as_view(), name="delete"),
    path("<int:pk>/ips/", views.KeyIpsView.as_view(), name="key_ips"),
    path("ips/<int:pk>/delete/", views.KeyIpDeleteView.as_view(), name="key_ip_delete"),
    path("company-ips/", views.CompanyIpAddView.as_view(), name="company_ip_add"),
    path("company-ips/<int:pk>/delete/", views.CompanyIpDeleteView.as_view(), name="company_ip_delete"),
    path("additional-security/", views.AdditionalSecurityView.as_view(), name="additional_security"),
]

# Recent IPs and the security log (authkeys/views_activity.py).
activity_patterns = [
    path("recent-ips/", views_activity.RecentIpsView.as_view(), name="recent_ips"),
    path(
        "recent-ips/<int:pk>/whitelist/",
        views_activity.RecentIpWhitelistView.as_view(),
        name="recent_ip_whitelist",
    ),
    path("security-log/", views_activity.SecurityLogView.as_view(), name="security_log"),
]

# Settings → Rules (authkeys/views_rules.py).
rule_patterns = [
    path("rules/", views_rules.RuleListView.as_view(), name="rules"),
    path("rules/new/", views_rules.RuleCreateView.as_view(), name="rule_create"),
    path("rules/<int:pk>/edit/", views_rules.RuleUpdateView.as_view(), name="rule_update"),
    path("rules/<int:pk>/delete/", views_rules.RuleDeleteView.as_view(), name="rule_delete"),
]

urlpatterns = key_patterns + activity_patterns + rule_patterns
