from django.apps import AppConfig


class AuthkeysConfig(AppConfig):
    name = "authkeys"
    verbose_name = "Auth keys"
