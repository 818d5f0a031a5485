"""The production settings shape, checked the way an operator would: `manage.py check` in a fresh
process with only environment variables (settings are read once, at import, so a subprocess is
the only honest way to try a different environment)."""

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)

# Variables that configure the settings; none may leak in from the developer's shell or from the
# test settings (which set SECRET_KEY, DEBUG and ALLOWED_HOSTS in os.environ).
_SETTINGS_VARS = {
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "TRUSTED_PROXIES",
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER",
    "EMAIL_BACKEND", "EMAIL_URL", "SMS_BACKEND", "DEV_OUTBOX_PATH", "DJANGO_SETTINGS_MODULE",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER",
}  # fmt: skip


def random_secret_key(length: int = 60) -> str:
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SETTINGS_VARS}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": random_secret_key(),
            "ALLOWED_HOSTS": "portal.example.com",
            "SMS_BACKEND": "portal.sms.backends.disabled.SmsBackend",
            # EMAIL_BACKEND left unset: production defaults to SMTP.
            # A throwaway SQLite file and var dir: `check` must not touch the developer's data.
            "VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{(tmp_path / 'check.sqlite3').as_posix()}",
            "STATIC_ROOT": str(tmp_path / "staticfiles"),
        }
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["SECRET_KEY"]

    result = manage(env, "check")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("variable", "development_backend", "check_id"),
    [
        ("SMS_BACKEND", "portal.sms.backends.console.SmsBackend", "portal.E001"),
        ("SMS_BACKEND", "portal.sms.backends.devoutbox.SmsBackend", "portal.E001"),
        ("EMAIL_BACKEND", "portal.mail.DevOutboxEmailBackend", "portal.E002"),
    ],
)
def test_deploy_check_refuses_development_delivery_backends(
    tmp_path: Path, variable: str, development_backend: str, check_id: str
) -> None:
    env = production_env(tmp_path, **{variable: development_backend})

    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert check_id in result.stderr, result.stdout + result.stderr


def test_secret_key_starting_with_a_dollar_is_taken_literally(tmp_path):
    key = "$" + random_secret_key(59)
    env = production_env(tmp_path, SECRET_KEY=key)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)",
        ],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == key
