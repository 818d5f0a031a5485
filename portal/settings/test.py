"""Test settings: the environment-driven base with fast, in-memory delivery."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# locmem unless a real Celery worker started by a test names another (e.g. the dev outbox file).
MAILERS = {
    "default": {"BACKEND": env.str("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")}
}
# The defaults below keep every test in-process (locmem SMS, eager Celery). The environment may
# override them so that a real Celery worker started by a test (tests/portal/test_celery_worker.py)
# can run with these settings against the real broker and write to a shared outbox file.
SMS_BACKEND = env.str("SMS_BACKEND", default="portal.sms.backends.locmem.SmsBackend")
SMS_DELIVERY_BACKEND = env.str("SMS_DELIVERY_BACKEND", default="messaging.delivery.locmem.Backend")
if "DEV_OUTBOX_PATH" in os.environ:
    DEV_OUTBOX_PATH = Path(os.environ["DEV_OUTBOX_PATH"])
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# A real worker started by a test consumes its own queue, and publishes follow-up tasks (retries,
# simulated delivery reports) to it too.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# CELERY_BROKER_URL: base.py already reads it from the environment.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (not :memory:) so that a real Celery worker or live server process can share it.
    # Per run (by pid) so that two test runs on one machine do not share a file; processes the
    # run starts (xdist workers, a Celery worker) inherit the variable and so the same file.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.setdefault("PORTAL_TEST_SQLITE", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))
    }
# Refusals (Failed Logs, Recent IPs) are written synchronously in tests: each request's rows are
# there when the test reads them (messaging/refusals.py batches them in production).
FAILED_REQUEST_BATCH_SIZE = 1
FAILED_REQUEST_FLUSH_SECONDS = 0.0
