"""Settings for every deployment shape, read from the environment.

The defaults give the embedded development shape (SQLite, filesystem broker, console/outbox
delivery). Production sets DEBUG=false and must then provide SECRET_KEY and ALLOWED_HOSTS.
"""

import ipaddress
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"  # noqa: S105 (debug only)
# Read raw: django-environ would treat a leading "$" as a reference to another variable.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=false) refuses to start without one; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])


def _parse_networks(raw: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in raw:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR ({exc})"
            ) from exc
    return networks


# Peers whose X-Forwarded-For header is believed when resolving the client IP.
TRUSTED_PROXIES = _parse_networks(env.list("TRUSTED_PROXIES", default=[]))

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "portal",
    "accounts",
    "authkeys",
    "messaging",
    "webhooks",
    "alerts",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{(VAR_DIR / 'portal.sqlite3').as_posix()}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A SELECT 1 before the first query of each request: a connection broken by a database restart
# or failover is replaced instead of failing that request. Costs one round trip per request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web + worker) share the file: wait for locks, write immediately.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DB_PREPARED_STATEMENTS", default=True
):
    # The API's accept statement (messaging/onestatement.py) is a server-side prepared statement:
    # parsed and planned once per connection. Django's own queries bind on the client and are
    # never prepared. Set DB_PREPARED_STATEMENTS=false behind a pooler that cannot keep prepared
    # statements (PgBouncer in transaction mode before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security headers -------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie.
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("SECURE_PROXY_SSL_HEADER", default=bool(TRUSTED_PROXIES)):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Email and SMS delivery -------------------------------------------------------------------
DEV_OUTBOX_PATH = VAR_DIR / "dev_outbox.jsonl"
EMAIL_BACKEND_PATH = env.str(
    "EMAIL_BACKEND",
    default="portal.mail.DevOutboxEmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
_email = env.email_url("EMAIL_URL", default="smtp://localhost:25")
MAILERS = {
    "default": {
        "BACKEND": EMAIL_BACKEND_PATH,
        "OPTIONS": (
            {
                "host": _email["EMAIL_HOST"],
                "port": _email["EMAIL_PORT"],
                "username": _email.get("EMAIL_HOST_USER") or None,
                "password": _email.get("EMAIL_HOST_PASSWORD") or None,
                "use_tls": bool(_email.get("EMAIL_USE_TLS", False)),
                "use_ssl": bool(_email.get("EMAIL_USE_SSL", False)),
                "timeout": env.int("EMAIL_TIMEOUT", default=20),
            }
            if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SMS Portal <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# The gateway through which the portal itself sends SMS (OTPs, alerts). Dotted path to a
# class implementing portal.sms.backends.base.BaseSmsBackend.
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="portal.sms.backends.devoutbox.SmsBackend"
    if DEBUG
    else "portal.sms.backends.disabled.SmsBackend",
)
SMS_SENDER_ID = env.str("SMS_SENDER_ID", default="PORTAL")
# Region used to read mobile numbers typed without a country code.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="IN")

# --- OTP gate ---------------------------------------------------------------------------------
OTP_SMS_TOKEN_VALIDITY = env.int("OTP_SMS_TOKEN_VALIDITY", default=300)
OTP_SMS_COOLDOWN_DURATION = env.int("OTP_SMS_COOLDOWN_DURATION", default=30)
OTP_SMS_THROTTLE_FACTOR = env.int("OTP_SMS_THROTTLE_FACTOR", default=1)
OTP_GATE_WINDOW_SECONDS = env.int("OTP_GATE_WINDOW_SECONDS", default=15 * 60)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="SMS Portal")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery-broker"
    for _folder in ("celery-broker", "celery-processed", "celery-control"):
        (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"skip_recorded_api_refusals": {"()": "messaging.logging.SkipRecordedApiRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # API refusals are Failed Logs rows already; their 4xx warnings would only repeat them.
        "django.request": {"filters": ["skip_recorded_api_refusals"]},
    },
}

# --- API keys ---------------------------------------------------------------------------------
# Keys the HMAC digests of API keys. Defaults to one derived from SECRET_KEY; set it explicitly
# in production so that SECRET_KEY can rotate without invalidating every API key. Never change it.
AUTHKEY_DIGEST_SECRET = os.environ.get("AUTHKEY_DIGEST_SECRET", "")
AUTHKEY_LOCAL_CACHE_SECONDS = env.float("AUTHKEY_LOCAL_CACHE_SECONDS", default=1.0)
AUTHKEY_SHARED_CACHE_SECONDS = env.int("AUTHKEY_SHARED_CACHE_SECONDS", default=300)
AUTHKEYS_MAX_PER_COMPANY = env.int("AUTHKEYS_MAX_PER_COMPANY", default=100)
AUTHKEYS_MAX_IPS_PER_KEY = env.int("AUTHKEYS_MAX_IPS_PER_KEY", default=100)
AUTHKEYS_MAX_IPS_PER_COMPANY = env.int("AUTHKEYS_MAX_IPS_PER_COMPANY", default=500)
AUTHKEYS_MAX_GRACE_SECONDS = 24 * 60 * 60
# Key management over the API (/settings/2/api-keys): keys created per company per UTC day (Infobip
# allows 40), and the validity of a key created there without validTo (Infobip: one year; 0: none).
AUTHKEYS_API_CREATE_PER_DAY = env.int("AUTHKEYS_API_CREATE_PER_DAY", default=40)
AUTHKEYS_API_DEFAULT_VALIDITY_DAYS = env.int("AUTHKEYS_API_DEFAULT_VALIDITY_DAYS", default=365)

# --- SMS API ----------------------------------------------------------------------------------
SMS_MAX_PARTS = env.int("SMS_MAX_PARTS", default=10)
SMS_DUPLICATE_WINDOW_SECONDS = env.int("SMS_DUPLICATE_WINDOW_SECONDS", default=10)
# Sending policy (messaging/policy.py): only sender IDs approved in the admin may send (else 203);
# the route of requests that name none when their company has no default route.
SMS_REQUIRE_APPROVED_SENDER = env.bool("SMS_REQUIRE_APPROVED_SENDER", default=False)
SMS_DEFAULT_ROUTE = env.str("SMS_DEFAULT_ROUTE", default="transactional")
# Most numbers one contact group may hold (SMS → Contact groups; the API's group_id adds them all).
SMS_GROUP_MAX_MEMBERS = env.int("SMS_GROUP_MAX_MEMBERS", default=10000)
# Infobip dialect: lifetime of IBSSO session tokens (POST /auth/1/session; Infobip's default is 60
# minutes) and of OAuth 2.0 access tokens (POST /auth/1/oauth2/token).
INFOBIP_SESSION_SECONDS = env.int("INFOBIP_SESSION_SECONDS", default=60 * 60)
INFOBIP_ACCESS_TOKEN_SECONDS = env.int("INFOBIP_ACCESS_TOKEN_SECONDS", default=60 * 60)
# MSG91 OTP endpoints (messaging/otp.py): defaults of sendotp and the bounds of verify and retry.
OTP_API_DEFAULT_SENDER = env.str("OTP_API_DEFAULT_SENDER", default="OTPSMS")
OTP_API_DEFAULT_LENGTH = env.int("OTP_API_DEFAULT_LENGTH", default=4)
OTP_API_DEFAULT_EXPIRY_MINUTES = env.int("OTP_API_DEFAULT_EXPIRY_MINUTES", default=24 * 60)
OTP_API_MAX_VERIFY_ATTEMPTS = env.int("OTP_API_MAX_VERIFY_ATTEMPTS", default=5)
OTP_API_MAX_RETRIES = env.int("OTP_API_MAX_RETRIES", default=3)
# Brute-force throttle of password-style API credentials (messaging/throttle.py): failures per
# username and per client IP within the window, beyond which they are refused without checking.
API_AUTH_FAILURES_PER_USERNAME = env.int("API_AUTH_FAILURES_PER_USERNAME", default=10)
API_AUTH_FAILURES_PER_IP = env.int("API_AUTH_FAILURES_PER_IP", default=50)
API_AUTH_FAILURE_WINDOW_SECONDS = env.int("API_AUTH_FAILURE_WINDOW_SECONDS", default=15 * 60)
# How often beat purges expired sessions and access tokens (messaging.tasks.purge_expired_credentials).
API_CREDENTIALS_PURGE_SECONDS = env.float("API_CREDENTIALS_PURGE_SECONDS", default=60 * 60.0)

# --- SMS delivery (customer messages accepted by the API) -------------------------------------
# Not SMS_BACKEND above (the portal's own OTPs and notices): the backend that hands customers'
# messages to a gateway, in the manner of Django's email backends (messaging/delivery/).
SMS_DELIVERY_BACKEND = env.str("SMS_DELIVERY_BACKEND", default="messaging.delivery.simulator.Backend")
# The simulator reports final statuses this many seconds after submission.
SMS_SIMULATOR_REPORT_DELAY = env.float("SMS_SIMULATOR_REPORT_DELAY", default=2.0)
# Recipients handed to the backend per call (and per status commit).
SMS_DELIVERY_CHUNK_SIZE = env.int("SMS_DELIVERY_CHUNK_SIZE", default=1000)
# A worker's claim on a message; renewed after every chunk. After it lapses the sweeper re-enqueues.
SMS_DELIVERY_LEASE_SECONDS = env.int("SMS_DELIVERY_LEASE_SECONDS", default=300)
# Unsent this long after acceptance (or the schedule time): the recipients become EXPIRED.
SMS_DELIVERY_VALIDITY_SECONDS = env.int("SMS_DELIVERY_VALIDITY_SECONDS", default=48 * 60 * 60)
# The sweeper's backoff for a message whose attempts keep failing doubles up to this.
SMS_DELIVERY_MAX_BACKOFF_SECONDS = env.int("SMS_DELIVERY_MAX_BACKOFF_SECONDS", default=60 * 60)
# The outbox sweeper: a PENDING/ENQUEUED message not claimed by a worker after this long is
# published again; it runs every SMS_OUTBOX_SWEEP_SECONDS and handles at most a batch per run.
SMS_OUTBOX_STALE_SECONDS = env.int("SMS_OUTBOX_STALE_SECONDS", default=60)
SMS_OUTBOX_SWEEP_SECONDS = env.float("SMS_OUTBOX_SWEEP_SECONDS", default=30.0)
SMS_OUTBOX_SWEEP_BATCH = env.int("SMS_OUTBOX_SWEEP_BATCH", default=500)
# The API publishes delivery tasks through a per-process thread that coalesces the messages
# accepted meanwhile into one task of at most SMS_PUBLISH_BATCH ids (messaging/delivery/publisher.py).
SMS_PUBLISH_COALESCE = env.bool("SMS_PUBLISH_COALESCE", default=True)
SMS_PUBLISH_BATCH = env.int("SMS_PUBLISH_BATCH", default=100)
# How long the publisher thread gathers ids after the first one before it publishes (milliseconds).
SMS_PUBLISH_LINGER_MS = env.int("SMS_PUBLISH_LINGER_MS", default=50)

# --- Refusal recording (messaging/refusals.py) -------------------------------------------------
# Refused API requests (Failed Logs rows, Recent IP counts) are buffered per process and written
# by a thread every FAILED_REQUEST_FLUSH_SECONDS, or sooner once FAILED_REQUEST_BATCH_SIZE rows
# wait; at most FAILED_REQUEST_BUFFER_MAX rows are held (beyond: dropped and counted in the log).
FAILED_REQUEST_BATCH_SIZE = env.int("FAILED_REQUEST_BATCH_SIZE", default=1000)
FAILED_REQUEST_FLUSH_SECONDS = env.float("FAILED_REQUEST_FLUSH_SECONDS", default=1.0)
FAILED_REQUEST_BUFFER_MAX = env.int("FAILED_REQUEST_BUFFER_MAX", default=10_000)

# --- Retention (portal/retention.py) -----------------------------------------------------------
# Failed logs, alerts and webhook deliveries older than this are purged daily (and by
# `manage.py purge_old_records`), RETENTION_BATCH_SIZE rows per statement.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=90)
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=5000)
RETENTION_PURGERS = {
    "failed logs": "messaging.services.purge_failed_requests",
    "webhook deliveries": "webhooks.services.purge_deliveries",
    "alerts": "alerts.services.purge_alerts",
}

# --- Webhooks (webhooks/) ----------------------------------------------------------------------
# Keys the derivation of endpoint signing secrets (webhooks/signing.py); defaults to one derived
# from SECRET_KEY. Set it explicitly in production so SECRET_KEY can rotate; changing it changes
# every endpoint's secret (receivers would then reject our signatures until given the new ones).
WEBHOOK_SECRET_KEY = os.environ.get("WEBHOOK_SECRET_KEY", "")
# Keys the sealing of texts that carry a secret (an OTP SMS) until they are handed to the gateway
# (messaging/sealing.py); defaults to one derived from SECRET_KEY.
SMS_SEAL_SECRET = os.environ.get("SMS_SEAL_SECRET", "")
# Development and tests only: allow loopback and private (RFC 1918, unique-local, CGNAT) targets.
# `check --deploy` refuses it (webhooks.E001).
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
WEBHOOKS_MAX_PER_COMPANY = env.int("WEBHOOKS_MAX_PER_COMPANY", default=20)
# Connect and read timeouts of one delivery attempt (each), in seconds.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Attempts per event before it is given up (FAILED); retries back off exponentially with jitter
# from WEBHOOK_BACKOFF_BASE_SECONDS up to WEBHOOK_BACKOFF_MAX_SECONDS.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=10)
WEBHOOK_BACKOFF_BASE_SECONDS = env.float("WEBHOOK_BACKOFF_BASE_SECONDS", default=30.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env.float("WEBHOOK_BACKOFF_MAX_SECONDS", default=6 * 60 * 60)
# A 429/503 Retry-After is honoured up to this many seconds.
WEBHOOK_RETRY_AFTER_MAX_SECONDS = env.int("WEBHOOK_RETRY_AFTER_MAX_SECONDS", default=60 * 60)
# Events claimed per batch by a drain task, and events one drain task sends before handing over.
WEBHOOK_DRAIN_BATCH = env.int("WEBHOOK_DRAIN_BATCH", default=20)
WEBHOOK_DRAIN_MAX_EVENTS = env.int("WEBHOOK_DRAIN_MAX_EVENTS", default=500)
# How often the sweeper re-enqueues endpoints with due (or stuck) deliveries.
WEBHOOK_SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", default=60.0)
# Longest grace period of a rotated secret (the old one keeps signing alongside the new one).
WEBHOOK_MAX_GRACE_SECONDS = env.int("WEBHOOK_MAX_GRACE_SECONDS", default=7 * 24 * 60 * 60)
# --- Alerts (alerts/) ---------------------------------------------------------------------------
# Refusals of one company are grouped in windows of this length from the first one: the first per
# (key, IP) for 418, per (key, code) otherwise, alerts at once; the rest go into one digest.
ALERTS_WINDOW_SECONDS = env.int("ALERTS_WINDOW_SECONDS", default=10 * 60)
# Refusal alerts and digests per company in any 60 minutes (security-change alerts not counted).
ALERTS_MAX_PER_COMPANY_PER_HOUR = env.int("ALERTS_MAX_PER_COMPANY_PER_HOUR", default=20)
# Delivery attempts per alert in all; the delay doubles from the base up to the maximum.
ALERTS_MAX_ATTEMPTS = env.int("ALERTS_MAX_ATTEMPTS", default=5)
ALERTS_RETRY_BACKOFF_SECONDS = env.int("ALERTS_RETRY_BACKOFF_SECONDS", default=30)
ALERTS_RETRY_BACKOFF_MAX_SECONDS = env.int("ALERTS_RETRY_BACKOFF_MAX_SECONDS", default=60 * 60)
# The sweep: digests of closed windows, re-publishing of alerts whose task was lost after this
# long, failing of alerts a dead worker left half-sent.
ALERTS_SWEEP_SECONDS = env.float("ALERTS_SWEEP_SECONDS", default=60.0)
ALERTS_STALE_SECONDS = env.int("ALERTS_STALE_SECONDS", default=5 * 60)
# Low-balance and key-expiry alerts (alerts/thresholds.py): how often they are looked for, and how
# many days before a key's expiry its alert goes out.
ALERTS_THRESHOLD_CHECK_SECONDS = env.float("ALERTS_THRESHOLD_CHECK_SECONDS", default=300.0)
ALERTS_KEY_EXPIRY_DAYS = env.int("ALERTS_KEY_EXPIRY_DAYS", default=7)

# Beat runs embedded in the worker (bin/run: celery worker --beat) or as one process in production.
CELERY_BEAT_SCHEDULE = {
    "portal-purge-old-records": {
        "task": "portal.tasks.purge_old_records",
        "schedule": 24 * 60 * 60,
        "options": {"expires": 60 * 60},
    },
    "messaging-sweep-outbox": {
        "task": "messaging.tasks.sweep_outbox",
        "schedule": SMS_OUTBOX_SWEEP_SECONDS,
        # A sweep nobody ran in time is pointless: the next one is already on its way.
        "options": {"expires": SMS_OUTBOX_SWEEP_SECONDS},
    },
    "webhooks-sweep": {
        "task": "webhooks.tasks.sweep_webhooks",
        "schedule": WEBHOOK_SWEEP_SECONDS,
        "options": {"expires": WEBHOOK_SWEEP_SECONDS},
    },
    "alerts-sweep": {
        "task": "alerts.tasks.sweep",
        "schedule": ALERTS_SWEEP_SECONDS,
        "options": {"expires": ALERTS_SWEEP_SECONDS},
    },
    "alerts-thresholds": {
        "task": "alerts.tasks.check_thresholds",
        "schedule": ALERTS_THRESHOLD_CHECK_SECONDS,
        "options": {"expires": ALERTS_THRESHOLD_CHECK_SECONDS},
    },
    "messaging-purge-expired-credentials": {
        "task": "messaging.tasks.purge_expired_credentials",
        "schedule": API_CREDENTIALS_PURGE_SECONDS,
        "options": {"expires": API_CREDENTIALS_PURGE_SECONDS},
    },
}
