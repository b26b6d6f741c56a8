"""Settings, all read from the environment (see .env.example for every variable).

With nothing set the project runs on embedded defaults (SQLite, local-memory cache,
eager Celery tasks, console email, local media) so that `make run` works anywhere.
Production sets DATABASE_URL and REDIS_URL and turns DEBUG off.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if DEBUG:
    SECRET_KEY = SECRET_KEY or "insecure-development-key-do-not-use-in-production"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
else:
    missing = [
        name
        for name, value in (
            ("SECRET_KEY", SECRET_KEY),
            ("ALLOWED_HOSTS", ALLOWED_HOSTS),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            "DEBUG is off, so these settings must be set in the environment: "
            + ", ".join(missing)
            + ". For local development run `make run` (which sets DEBUG=1)."
        )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "django_celery_beat",
    "ticketing",
    "events",
    "bookings",
    "payments",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Control characters in paths and query strings, unstorable webhook bodies:
    # refused before sessions or views (ticketing/middleware.py).
    "ticketing.middleware.HostileInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ticketing.urls"
WSGI_APPLICATION = "ticketing.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite for the demo only (no row locks); PostgreSQL in production and tests.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Lets several test runs share one server without sharing a test database.
# Behind PgBouncer in transaction pooling mode, server-side cursors must be off.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
)
# Server-side binding lets psycopg prepare a statement once it has run 5 times on a
# connection, so PostgreSQL stops planning it anew; every sale repeats the same few
# statements. Behind PgBouncer in transaction mode it needs PgBouncer 1.21 or later
# with max_prepared_statements set; otherwise turn it off.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
if TEST_DATABASE_NAME := env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": TEST_DATABASE_NAME}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis serves the cache (availability, rate limits) and the Celery broker.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="ticketing"),
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# With no broker to send them to, tasks run in the process that enqueues them.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://"
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Beat keeps its schedule in the database (django-celery-beat): the entries below are
# copied there at start, and each platform connection adds its own sync entry, whose
# interval organisers edit in the admin.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Holds free their seats the moment they expire (availability derives them); this
    # only flips their status to EXPIRED and writes the audit trail, so once a minute.
    "bookings-expire-holds": {
        "task": "bookings.tasks.booking_expire_stale",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Webhook deliveries whose processing failed, once their backoff has passed.
    "payments-retry-webhooks": {
        "task": "payments.tasks.webhooks_retry_due",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Notifications whose task was lost, or whose temporary failure has waited out
    # its backoff.
    "notifications-retry-due": {
        "task": "bookings.notifications.tasks.notifications_retry_due",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # "Your seats are held until ..." for organisers who set hold_reminder_minutes.
    "notifications-hold-reminders": {
        "task": "bookings.notifications.tasks.hold_reminders_queue",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Partner API idempotency records past their 24 h replay window.
    "api-idempotency-purge": {
        "task": "bookings.tasks.api_idempotency_purge",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
    # Partner webhook deliveries whose backoff has passed, or whose task was lost.
    "partner-webhooks-retry-due": {
        "task": "bookings.partner_webhooks.tasks.partner_webhooks_retry_due",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Platform webhooks whose processing failed, once their backoff has passed.
    # (Each platform connection's own sync entry is added by the connection itself.)
    "integrations-webhooks-retry-due": {
        "task": "integrations.tasks.platform_webhooks_retry_due",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Payments left pending: ask the provider and settle them either way.
    "payments-reconcile": {
        "task": "payments.tasks.payments_reconcile",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 540},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Ticket files (QR codes, PDFs): S3 through django-storages when a bucket is set,
# private objects served through signed URLs; local media/ otherwise.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
# Seconds a signed download link of a ticket file stays valid.
AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=300)

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": AWS_S3_REGION_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": AWS_QUERYSTRING_EXPIRE,
            "file_overwrite": False,
        },
    }
    if AWS_STORAGE_BUCKET_NAME
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Email: Brevo through django-anymail when BREVO_API_KEY is set, else EMAIL_BACKEND
# (console by default: messages are printed, not sent).
BREVO_API_KEY = env.str("BREVO_API_KEY", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="anymail.backends.brevo.EmailBackend"
    if BREVO_API_KEY
    else "django.core.mail.backends.console.EmailBackend",
)
ANYMAIL = {
    "BREVO_API_KEY": BREVO_API_KEY,
    # "user:password" in the URL Brevo calls for delivery events (/anymail/brevo/...).
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="") or None,
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tickets@localhost")
# The public address of the site, for links in emails and SMS and provider callbacks.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# SMS: Twilio when its credentials are set, else messages are only logged.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="ticketing.sms.TwilioBackend"
    if TWILIO_ACCOUNT_SID
    else "ticketing.sms.ConsoleBackend",
)


REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["events.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["events.api.auth.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["events.api.auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_RATE_PER_KEY", default="600/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "ticketing.api.pagination.ApiPagination",
    "EXCEPTION_HANDLER": "ticketing.api.errors.api_exception_handler",
    # JSON too deep for Python or holding what PostgreSQL refuses (NUL) is a 400.
    "DEFAULT_PARSER_CLASSES": [
        "ticketing.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ticketing partner API",
    "VERSION": "1.0.0",
    # The docs page loads Swagger UI / ReDoc from local static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Partner webhook endpoints may resolve to loopback addresses: for tests and local
# receivers only; never in production (endpoints must be public addresses).
PARTNER_WEBHOOKS_ALLOW_LOOPBACK = env.bool(
    "PARTNER_WEBHOOKS_ALLOW_LOOPBACK", default=False
)

# Selling: how long a pending booking holds its seats, and how long a buyer waits for a
# busy session's row lock before being told to retry.
BOOKING_HOLD_MINUTES = env.int("BOOKING_HOLD_MINUTES", default=15)
INVENTORY_LOCK_TIMEOUT_MS = env.int("INVENTORY_LOCK_TIMEOUT_MS", default=3000)
# Checkout abuse limits: holds per client IP and per buyer email in a sliding hour,
# and how many unpaid holds one email may keep at once.
CHECKOUT_HOLDS_PER_IP_PER_HOUR = env.int("CHECKOUT_HOLDS_PER_IP_PER_HOUR", default=20)
CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR = env.int(
    "CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR", default=10
)
# Proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR);
# only those hops are trusted when finding a client's IP for the limits above.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL = env.int(
    "CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL", default=3
)
# External platform figures older than this are reported as stale.
EXTERNAL_SALES_STALE_AFTER_MINUTES = env.int(
    "EXTERNAL_SALES_STALE_AFTER_MINUTES", default=30
)
AVAILABILITY_CACHE_SECONDS = env.int("AVAILABILITY_CACHE_SECONDS", default=30)

# Payments. Keys set per organiser in the admin win; these are the fallback.
# PAYMENTS_ENCRYPTION_KEY encrypts the organisers' keys at rest (a Fernet key, see
# README). Unset, one is derived from SECRET_KEY, which then must never change.
PAYMENTS_ENCRYPTION_KEY = env.str("PAYMENTS_ENCRYPTION_KEY", default="")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Only tests point these at local fakes.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
PAYSTACK_SECRET_KEY = env.str("PAYSTACK_SECRET_KEY", default="")
PAYSTACK_PUBLIC_KEY = env.str("PAYSTACK_PUBLIC_KEY", default="")
PAYSTACK_API_BASE = env.str("PAYSTACK_API_BASE", default="https://api.paystack.co")
# Payments still pending after this long are verified with their provider and settled.
PAYMENT_RECONCILE_AFTER_MINUTES = env.int("PAYMENT_RECONCILE_AFTER_MINUTES", default=20)
# (connect, read) seconds for every call to a payment provider.
PAYMENT_HTTP_TIMEOUT = (
    env.float("PAYMENT_HTTP_CONNECT_TIMEOUT", default=3.05),
    env.float("PAYMENT_HTTP_READ_TIMEOUT", default=20.0),
)

# External platforms (Billetweb, Humanitix, Eventbrite). See integrations/.
# (connect, read) seconds for every call to a platform.
INTEGRATIONS_HTTP_TIMEOUT = (
    env.float("INTEGRATIONS_HTTP_CONNECT_TIMEOUT", default=3.05),
    env.float("INTEGRATIONS_HTTP_READ_TIMEOUT", default=20.0),
)
# Retries of one GET on timeouts, connection errors, 429 and 5xx; backoff seconds
# double from INTEGRATIONS_HTTP_BACKOFF (plus as much jitter), and a Retry-After is
# honoured up to INTEGRATIONS_HTTP_RETRY_AFTER_MAX seconds.
INTEGRATIONS_HTTP_RETRIES = env.int("INTEGRATIONS_HTTP_RETRIES", default=3)
INTEGRATIONS_HTTP_BACKOFF = env.float("INTEGRATIONS_HTTP_BACKOFF", default=0.5)
INTEGRATIONS_HTTP_RETRY_AFTER_MAX = env.int(
    "INTEGRATIONS_HTTP_RETRY_AFTER_MAX", default=30
)
# Circuit breaker per platform: opens after this many failed calls within the pause,
# then lets one probe through once the pause has passed.
INTEGRATIONS_BREAKER_FAILURES = env.int("INTEGRATIONS_BREAKER_FAILURES", default=5)
INTEGRATIONS_BREAKER_RESET_SECONDS = env.float(
    "INTEGRATIONS_BREAKER_RESET_SECONDS", default=60.0
)
# Longest wait for the next rate-limit window before a call gives up for this run.
INTEGRATIONS_RATE_LIMIT_MAX_WAIT = env.float(
    "INTEGRATIONS_RATE_LIMIT_MAX_WAIT", default=65.0
)
# Listings of one connection fetched at once.
INTEGRATIONS_SYNC_CONCURRENCY = env.int("INTEGRATIONS_SYNC_CONCURRENCY", default=8)
# A listing fetched less than this long ago is not fetched again (forced syncs are).
INTEGRATIONS_CACHE_SECONDS = env.int("INTEGRATIONS_CACHE_SECONDS", default=300)
# A sync holds its per-connection lock at most this long (a dead worker's lock lapses).
INTEGRATIONS_SYNC_LOCK_SECONDS = env.int("INTEGRATIONS_SYNC_LOCK_SECONDS", default=900)
# Client-side rate limits per API key ("calls/period"; "0" for none). Billetweb's
# observed limit is 100/min; Eventbrite's commonly quoted one is 2000/hour.
BILLETWEB_RATE_LIMIT = env.str("BILLETWEB_RATE_LIMIT", default="90/min")
HUMANITIX_RATE_LIMIT = env.str("HUMANITIX_RATE_LIMIT", default="120/min")
EVENTBRITE_RATE_LIMIT = env.str("EVENTBRITE_RATE_LIMIT", default="2000/hour")
# Only tests and benchmarks point these at local fakes.
BILLETWEB_API_BASE = env.str(
    "BILLETWEB_API_BASE", default="https://www.billetweb.fr/api"
)
HUMANITIX_API_BASE = env.str(
    "HUMANITIX_API_BASE", default="https://api.humanitix.com/v1"
)
EVENTBRITE_API_BASE = env.str(
    "EVENTBRITE_API_BASE", default="https://www.eventbriteapi.com/v3"
)

if not DEBUG:
    # The proxy in front must set X-Forwarded-Proto itself (and drop a client's own).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
