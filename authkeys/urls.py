from django.urls import path

from authkeys import views

app_name = "authkeys"

# Keys, their IP panels and company-level IP security (authkeys/views.py).
key_patterns = [
    path("", views.AuthkeyIndexView.as_view(), name="index"),
]

# Recent IPs and the security log (authkeys/views_activity.py).
activity_patterns: list = []

# Settings → Rules (authkeys/views_rules.py).
rule_patterns = [
    path("rules/", views.RulesView.as_view(), name="rules"),
]

urlpatterns = key_patterns + activity_patterns + rule_patterns
