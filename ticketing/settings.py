"""Settings, all read from the environment (see .env.example for every variable).

PostgreSQL is the one database: `make run` starts an embedded PostgreSQL and sets
DATABASE_URL for the demo; everything else falls back to embedded defaults
(local-memory cache, eager Celery tasks, console email, local media) when unset.
Production sets DATABASE_URL, REDIS_URL and SITE_URL and turns DEBUG off.
"""

import datetime as dt
import ipaddress
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
# The public address of the site, for links in emails, SMS, API answers and provider
# callbacks: a deployment that guessed it would mail buyers dead links.
SITE_URL = env.str("SITE_URL", default="").rstrip("/")
if DEBUG:
    SECRET_KEY = SECRET_KEY or "insecure-development-key-do-not-use-in-production"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
    SITE_URL = SITE_URL or "http://127.0.0.1:8000"
else:
    missing = [
        name
        for name, value in (
            ("SECRET_KEY", SECRET_KEY),
            ("ALLOWED_HOSTS", ALLOWED_HOSTS),
            ("SITE_URL", SITE_URL),
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
    # PostgreSQL only: trigram indexes (OpClass in index expressions) need it.
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "django_celery_beat",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "ticketing",
    "events",
    "bookings",
    "payments",
    "admission",
    "invoicing",
    "integrations",
    "integrations.xero",
    "integrations.stripe_catalog",
    "notifications",
    "partner_api",
    "backoffice",
]

MIDDLEWARE = [
    # Page-only middlewares are wrapped so that JSON API requests (/api/v1/) step
    # around them (ticketing/page_middleware.py).
    # Times checkouts for /metrics (ticketing/metrics.py).
    "ticketing.metrics.CheckoutTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Control characters in paths and query strings, unstorable webhook bodies:
    # refused before sessions or views (ticketing/middleware.py).
    "ticketing.middleware.HostileInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ticketing.page_middleware.PageSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "ticketing.page_middleware.PageCsrfViewMiddleware",
    "ticketing.page_middleware.PageAuthenticationMiddleware",
    "ticketing.page_middleware.PageOTPMiddleware",
    "ticketing.page_middleware.PageAdminOTPMiddleware",
    "ticketing.page_middleware.PageMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ticketing.page_middleware.PageCSPMiddleware",
    # Last, as django-axes asks: it turns a lockout raised in a view into its page.
    "axes.middleware.AxesMiddleware",
    # A view's lost or timed-out database connection: 503 with Retry-After.
    "ticketing.db.DatabaseUnavailableMiddleware",
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

# PostgreSQL everywhere: the demo, the tests and production sell with the same row
# locks and triggers.
if not env.str("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `make run` starts an embedded PostgreSQL and sets it "
        "for the demo (and `make manage ARGS=...` runs a management command against "
        "it); otherwise point it at your PostgreSQL, e.g. "
        "postgres://user:password@127.0.0.1:5432/ticketing."
    )
DATABASES = {"default": env.db("DATABASE_URL")}
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
if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
# Web requests only (ticketing/db.py): the longest one statement may run, and the
# longest a statement waits for a row lock; 0 turns either off.
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=30000)
DATABASE_LOCK_TIMEOUT_MS = env.int("DATABASE_LOCK_TIMEOUT_MS", default=10000)
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
# Redis broker: a task taken by a worker that then vanished (SIGKILL, a lost machine)
# is delivered again after this many seconds. Longer than the longest task, or a
# task still running is delivered twice; tasks are idempotent either way.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Beat keeps its schedule in the database (django-celery-beat): the entries below are
# copied there at start, and each platform connection adds its own sync entry, whose
# interval organisers edit in the admin.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Overdue invoices: one reminder email per document a week, checked daily.
    "invoicing-overdue-reminders": {
        "task": "invoicing.tasks.invoice_overdue_reminders_task",
        "schedule": crontab(minute=0, hour=8),
        "options": {"expires": 3600},
    },
    # Holds free their seats the moment they expire (availability derives them); this
    # only flips their status to EXPIRED and writes the audit trail, so once a minute.
    "bookings-expire-holds": {
        "task": "bookings.tasks.booking_expire_stale",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # The sweep of payment webhooks: verified deliveries not processed a minute after
    # they arrived (their task was lost or never enqueued), failed ones whose backoff
    # has passed, and ones whose worker was lost.
    "payments-retry-webhooks": {
        "task": "payments.tasks.webhooks_retry_due",
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
    # The sweep of platform webhooks: stored a minute ago and still unprocessed, or
    # failed and past their backoff. (Each platform connection's own sync entry is
    # added by the connection itself.)
    "integrations-webhooks-retry-due": {
        "task": "integrations.tasks.platform_webhooks_retry_due",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # A worker writes the time it ran this; /healthz/full reports a worker silent for
    # two minutes.
    "ticketing-worker-heartbeat": {
        "task": "ticketing.tasks.worker_heartbeat",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Xero: payments and voids recorded in Xero since the last run (the webhook
    # brings most sooner), and webhook events whose processing was lost.
    "xero-reconcile": {
        "task": "xero.tasks.reconcile_all",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
    # The outbox's net: rows whose on-commit kick was lost, failed rows past their
    # backoff and rows whose dispatcher died (ticketing/outbox.py).
    "ticketing-outbox-dispatch": {
        "task": "ticketing.tasks.outbox_dispatch",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Done outbox rows past their week in the admin.
    "ticketing-outbox-purge": {
        "task": "ticketing.tasks.outbox_purge",
        "schedule": crontab(minute=41),
        "options": {"expires": 3000},
    },
    # Alerts found by looking (stuck backlogs, refunds of unknown outcome), then
    # the emails of alerts new or seen again (at most one an hour per alert).
    "ticketing-alerts": {
        "task": "ticketing.tasks.alerts_check",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 280},
    },
    # Rejected webhook deliveries past WEBHOOK_REJECTED_RETENTION_DAYS.
    "payments-rejected-webhooks-purge": {
        "task": "payments.tasks.webhooks_rejected_purge",
        "schedule": crontab(minute=23, hour=3),
        "options": {"expires": 3000},
    },
    "integrations-rejected-webhooks-purge": {
        "task": "integrations.tasks.platform_webhooks_rejected_purge",
        "schedule": crontab(minute=27, hour=3),
        "options": {"expires": 3000},
    },
    # Expired Django sessions (every anonymous checkout has one).
    "ticketing-clear-sessions": {
        "task": "ticketing.tasks.sessions_clear",
        "schedule": crontab(minute=31, hour=3),
        "options": {"expires": 3000},
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

# Admin login: django-axes counts failed logins per username and per client address
# (each on its own: either reaching the limit locks), with the client address found
# as every other limit finds it (ticketing.lib.clientip, TRUSTED_PROXY_COUNT).
AUTHENTICATION_BACKENDS = [
    "ticketing.login.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "ticketing.lib.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "ticketing.login.lockout_response"
AXES_USERNAME_CALLABLE = "ticketing.login.axes_username"
AXES_RESET_ON_SUCCESS = True
# Staff may register an authenticator app (TOTP, django-otp) at /admin/otp/setup/;
# once they have, the admin asks for its code after the password. Superusers must
# have one when this is on.
ADMIN_REQUIRE_OTP_FOR_SUPERUSERS = env.bool(
    "ADMIN_REQUIRE_OTP_FOR_SUPERUSERS", default=False
)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Ticketing")
# Superusers manage authenticators in the admin, but never see their secret keys.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

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
# For EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend: one file per
# message in this directory (`make smoke` reads the worker's mail there).
EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", default=BASE_DIR / "sent-emails")
# Delivery status from the ESP: only the sending ESP's tracking webhook is mounted
# (notifications.email_webhooks). Unset, it is on whenever an anymail
# backend sends the email; with DEBUG off it then needs ANYMAIL_WEBHOOK_SECRET, or
# anyone could mark a buyer's email bounced.
EMAIL_TRACKING = env.bool("EMAIL_TRACKING", default=None)
if (
    not DEBUG
    and (
        EMAIL_TRACKING
        if EMAIL_TRACKING is not None
        else EMAIL_BACKEND.startswith("anymail.backends.")
    )
    and not ANYMAIL["WEBHOOK_SECRET"]
):
    raise ImproperlyConfigured(
        "Email delivery tracking is on (EMAIL_TRACKING, or an anymail EMAIL_BACKEND "
        "such as Brevo's), so ANYMAIL_WEBHOOK_SECRET must be set: the 'user:password' "
        "the ESP sends with each delivery event. Set EMAIL_TRACKING=0 to do without "
        "delivery status."
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tickets@localhost")

# SMS: Twilio when its credentials are set, else messages are only logged.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="notifications.sms.TwilioBackend"
    if TWILIO_ACCOUNT_SID
    else "notifications.sms.ConsoleBackend",
)


REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["partner_api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["partner_api.auth.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["partner_api.auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_RATE_PER_KEY", default="600/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "partner_api.pagination.ApiPagination",
    "EXCEPTION_HANDLER": "partner_api.errors.api_exception_handler",
    # JSON too deep for Python or holding what PostgreSQL refuses (NUL) is a 400.
    "DEFAULT_PARSER_CLASSES": [
        "partner_api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
}
# Failed partner API authentications per client address ("20/min"; "0" for no
# limit) before every request with a key from it gets 429 until the period ends.
API_AUTH_FAILURE_RATE = env.str("API_AUTH_FAILURE_RATE", default="20/min")
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
# Load shedding: sales of one session in flight (waiting for or holding its row lock)
# across all web processes; the next buyer gets 503 busy with Retry-After at once.
# About half the web tier's worker threads (bookings/shedding.py explains); 0: off.
SALE_MAX_IN_FLIGHT_PER_SESSION = env.int("SALE_MAX_IN_FLIGHT_PER_SESSION", default=8)
# Checkout abuse limits: holds per client IP and per buyer email in a sliding hour,
# and how many unpaid holds one email may keep at once.
CHECKOUT_HOLDS_PER_IP_PER_HOUR = env.int("CHECKOUT_HOLDS_PER_IP_PER_HOUR", default=20)
CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR = env.int(
    "CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR", default=10
)
# Our reverse proxies (addresses or networks, comma separated): X-Forwarded-For is
# read only from them, past them, for the client IP every limit keys off
# (ticketing.lib.clientip). Refused at start when one is not an address.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network"
        ) from None
# Older form, used when TRUSTED_PROXIES is empty: how many proxies append to
# X-Forwarded-For (0: use REMOTE_ADDR), whoever the peer is.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL = env.int(
    "CHECKOUT_MAX_PENDING_HOLDS_PER_EMAIL", default=3
)
# Hold hoarding: seats (not holds) one client IP and one buyer email may hold in a
# fixed hour at checkout, expired and replaced holds included; and the share of one
# session's capacity one email or IP may hold at once (at least the event's
# per-order maximum), decided under the session lock for the shop and the API.
CHECKOUT_SEATS_PER_IP_PER_HOUR = env.int("CHECKOUT_SEATS_PER_IP_PER_HOUR", default=60)
CHECKOUT_SEATS_PER_EMAIL_PER_HOUR = env.int(
    "CHECKOUT_SEATS_PER_EMAIL_PER_HOUR", default=40
)
HOLD_MAX_SESSION_SHARE_PERCENT = env.int("HOLD_MAX_SESSION_SHARE_PERCENT", default=10)
# The booking lookup page (/b/lookup/): requests per client IP and per email an hour.
LOOKUP_PER_IP_PER_HOUR = env.int("LOOKUP_PER_IP_PER_HOUR", default=10)
LOOKUP_PER_EMAIL_PER_HOUR = env.int("LOOKUP_PER_EMAIL_PER_HOUR", default=5)
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
# Stripe Connect: the signing secret of the Connect endpoint /webhooks/stripe/connect/
# (account.updated from organisers' connected accounts), and the platform's fee on
# their destination charges: a percentage of the amount plus a fixed part per ticket
# (minor units of the event's currency); organisers may have their own in the admin.
STRIPE_CONNECT_WEBHOOK_SECRET = env.str("STRIPE_CONNECT_WEBHOOK_SECRET", default="")
PLATFORM_FEE_PERCENT = env.str("PLATFORM_FEE_PERCENT", default="0")
PLATFORM_FEE_FIXED_MINOR = env.int("PLATFORM_FEE_FIXED_MINOR", default=0)
try:
    _fee_percent = float(PLATFORM_FEE_PERCENT)
except ValueError:
    _fee_percent = -1.0
if not 0 <= _fee_percent <= 100 or PLATFORM_FEE_FIXED_MINOR < 0:
    raise ImproperlyConfigured(
        "PLATFORM_FEE_PERCENT must be a number from 0 to 100 (e.g. 2.5) and "
        "PLATFORM_FEE_FIXED_MINOR a whole number of minor units, 0 or more."
    )
# Only tests point these at local fakes.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
PAYSTACK_SECRET_KEY = env.str("PAYSTACK_SECRET_KEY", default="")
PAYSTACK_PUBLIC_KEY = env.str("PAYSTACK_PUBLIC_KEY", default="")
PAYSTACK_API_BASE = env.str("PAYSTACK_API_BASE", default="https://api.paystack.co")
# Inbound webhooks (payments, platforms): a body declared larger than this many bytes
# is refused with 413 before it is read; a delivery failing authentication is kept
# only as a 2 KB excerpt, its size and hash, at most this many a minute per address.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
WEBHOOK_REJECTIONS_PER_MINUTE = env.int("WEBHOOK_REJECTIONS_PER_MINUTE", default=10)
# Days a rejected delivery is kept for diagnosis before the daily purge deletes it.
WEBHOOK_REJECTED_RETENTION_DAYS = env.int("WEBHOOK_REJECTED_RETENTION_DAYS", default=30)
# Bearer token of /healthz/full and /metrics (monitors); unset, both answer 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A Celery worker's own metrics endpoint (no token; see docs/operations.md); unset: off.
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
METRICS_WORKER_ADDR = env.str("METRICS_WORKER_ADDR", default="127.0.0.1")
# Errors (web, Celery) to Sentry when set, secrets scrubbed (ticketing/sentry.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from ticketing import sentry

    sentry.init(
        SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
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
# double from INTEGRATIONS_HTTP_BACKOFF up to 10 (jitter shortens them, per
# ticketing/lib/retry.py), and a Retry-After is honoured up to
# INTEGRATIONS_HTTP_RETRY_AFTER_MAX seconds.
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
# With Redis down, client-side limits protecting a provider's quota, and limits on
# writes from unknown clients (checkout holds and seats, lookups, stored webhook
# rejections), are counted in each process instead: each takes
# 1/PROVIDER_QUOTA_PROCESSES of the limit.
PROVIDER_QUOTA_PROCESSES = env.int("PROVIDER_QUOTA_PROCESSES", default=4)
# Stripe catalogue sync (integrations/stripe_catalog): calls a second to Stripe for
# Products and Prices, shared by every worker through Redis. Stripe allows 25 a second
# in test mode and 100 live: set "100/s" in production.
STRIPE_CATALOG_RATE_LIMIT = env.str("STRIPE_CATALOG_RATE_LIMIT", default="25/s")
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

# Xero (integrations/xero): the app's OAuth 2 client, registered at
# developer.xero.com with the redirect URI
# <SITE_URL>/admin/xero/xeroconnection/callback/, and the key Xero signs webhooks
# with. Unset: organisers cannot connect.
XERO_CLIENT_ID = env.str("XERO_CLIENT_ID", default="")
XERO_CLIENT_SECRET = env.str("XERO_CLIENT_SECRET", default="")
XERO_WEBHOOK_KEY = env.str("XERO_WEBHOOK_KEY", default="")
# Xero's hosts: the consent page, the token endpoint and the API (tests point all three
# at a local fake).
XERO_LOGIN_BASE = env.str("XERO_LOGIN_BASE", default="https://login.xero.com")
XERO_IDENTITY_BASE = env.str("XERO_IDENTITY_BASE", default="https://identity.xero.com")
XERO_API_BASE = env.str("XERO_API_BASE", default="https://api.xero.com")
# Xero's limits per organisation (tenant), kept by a limiter shared through Redis:
# calls in any 60 s, calls in any 24 h, calls at once.
XERO_MINUTE_LIMIT = env.int("XERO_MINUTE_LIMIT", default=60)
XERO_DAY_LIMIT = env.int("XERO_DAY_LIMIT", default=5000)
XERO_CONCURRENT_LIMIT = env.int("XERO_CONCURRENT_LIMIT", default=5)

# Content-Security-Policy (django-csp): pages load scripts, styles and frames from
# this site only, with no inline script or style. The booking page adds Stripe's and
# Paystack's origins itself (payments.pages), the API docs their data: images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

if not DEBUG:
    # The proxy in front must set X-Forwarded-Proto itself (and drop a client's own).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    # The site is served over HTTPS (by the proxy or by redirecting here): browsers
    # are then told to keep to HTTPS for a year unless SECURE_HSTS_SECONDS says else.
    # An https:// SITE_URL says so already; USE_TLS=0 still turns HSTS off.
    USE_TLS = env.bool(
        "USE_TLS",
        default=SECURE_SSL_REDIRECT or SITE_URL.lower().startswith("https://"),
    )
    SECURE_HSTS_SECONDS = env.int(
        "SECURE_HSTS_SECONDS", default=31536000 if USE_TLS else 0
    )
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
    )
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
    # WeasyPrint logs every layout step of every ticket PDF at INFO: noise that buries
    # the worker's own lines. Its warnings (a missing font, a bad image) still show.
    "loggers": {"weasyprint.progress": {"level": "WARNING"}},
}
