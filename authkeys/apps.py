from django.apps import AppConfig


class AuthkeysConfig(AppConfig):
    name = "authkeys"
    verbose_name = "Auth keys"

    def ready(self) -> None:
        from authkeys import receivers  # noqa: F401  (connects signal receivers)
