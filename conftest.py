import uuid

import pytest
from django.conf import settings


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit(
            f"The tests run on PostgreSQL only (DATABASE_URL gives {engine}). "
            "Use `make test`, which defaults to postgres://postgres@127.0.0.1:5432/test.",
            returncode=2,
        )
    # Runs share one Redis: a prefix per run keeps cached availability of one run's
    # session 12 away from another's.
    settings.CACHES["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def _media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _test_settings(settings, _media_root):
    # Production serves hashed static files from a collectstatic manifest; tests have
    # none. Factories hash a password per user: a fast hasher keeps the suite quick.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Ticket PDFs rendered by tests go to a temporary folder, not the repo's media/.
    settings.MEDIA_ROOT = str(_media_root)
    # A cache of its own per test: hourly checkout limits (per address, per email)
    # counted by earlier tests must not refuse this one's buyers, whatever the order.
    default = settings.CACHES["default"]
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            **default,
            "KEY_PREFIX": f"{default['KEY_PREFIX']}-{uuid.uuid4().hex[:8]}",
        },
    }
    # Limits counted in-process while Redis is down: each test starts with none.
    from ticketing.lib import ratelimit

    ratelimit._local_counts.clear()
    # Load shedding off: the races elsewhere count exact outcomes for 40 threads on
    # one session; bookings/tests/test_shedding.py turns it on and tests it.
    settings.SALE_MAX_IN_FLIGHT_PER_SESSION = 0


@pytest.fixture(autouse=True)
def _celery_tasks_run_in_process():
    """Tasks run in the test's process; no worker is started for the suite."""
    from ticketing.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _language_back_to_default():
    """A request in French leaves French active in the thread; the next test must
    start in the default language."""
    yield
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _healthz_summary_forgotten():
    """`/healthz` caches its broker and backlog summary per process for a few
    seconds: each test computes its own."""
    from ticketing import health

    health.summary_forget()
    yield
    health.summary_forget()


@pytest.fixture(autouse=True)
def _api_auth_failures_forgotten():
    """Every test client calls from 127.0.0.1, and failed API authentications are
    counted per address in the run's Redis: one test's wrong keys must not throttle
    the next test's requests."""
    yield
    from partner_api.auth import auth_failure_limit, auth_failures

    auth_failures.reset("127.0.0.1", auth_failure_limit())
