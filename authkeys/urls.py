from django.urls import path

from authkeys import views

app_name = "authkeys"

urlpatterns = [
    path("", views.AuthkeyIndexView.as_view(), name="index"),
    path("rules/", views.RulesView.as_view(), name="rules"),
]
