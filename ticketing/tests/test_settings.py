"""What ticketing/settings.py builds from the environment, in a clean process each time.

Every case loads the settings in a subprocess whose environment holds only PATH and the
variables under test, so neither the caller's environment nor a developer's `.env` can
change the outcome: settings read `BASE_DIR/.env` with overwrite=False, and the child
redirects that read to a file chosen by the test (empty unless a test writes one).
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
# Settings only parse it; nothing connects.
DATABASE_URL = "postgres://app@db.example:5432/ticketing"

# Runs in the child. It records what settings.py asks of read_env, then reads the test's
# dotenv file instead of the repository's, with the same arguments.
CHILD = """
import json, os, sys
import environ

_read_env = environ.Env.read_env.__func__
calls = []

def read_env(cls, env_file=None, **kwargs):
    calls.append({"path": str(env_file), "overwrite": kwargs.get("overwrite", False)})
    return _read_env(cls, os.environ["TEST_DOTENV"], **kwargs)

environ.Env.read_env = classmethod(read_env)

import django
from django.conf import settings
settings.SECRET_KEY  # loads the settings module; ImproperlyConfigured ends the process
django.setup()
from ticketing.celery import app

db = settings.DATABASES["default"]
cache = settings.CACHES["default"]
print(json.dumps({
    "read_env": calls,
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "db_engine": db["ENGINE"],
    "db_name": str(db["NAME"]),
    "db_host": db.get("HOST", ""),
    "cache_backend": cache["BACKEND"],
    "cache_location": cache.get("LOCATION", ""),
    "broker_url": settings.CELERY_BROKER_URL,
    "always_eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "celery_app_eager": app.conf.task_always_eager,
    "celery_app_broker": app.conf.broker_url,
    "email_backend": settings.EMAIL_BACKEND,
    "staticfiles_backend": settings.STORAGES["staticfiles"]["BACKEND"],
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "SITE_URL": settings.SITE_URL,
}))
"""


@pytest.fixture
def load_settings(tmp_path):
    dotenv = tmp_path / "test.env"
    dotenv.write_text("")

    def load(**variables: str) -> subprocess.CompletedProcess:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DJANGO_SETTINGS_MODULE": "ticketing.settings",
            "TEST_DOTENV": str(dotenv),
            **variables,
        }
        return subprocess.run(
            [sys.executable, "-c", CHILD], cwd=BASE_DIR, env=environment,
            capture_output=True, text=True, timeout=60, check=False,
        )

    load.dotenv = dotenv
    return load


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def improperly_configured(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    prefix = "django.core.exceptions.ImproperlyConfigured: "
    assert last_line.startswith(prefix), result.stderr
    return last_line.removeprefix(prefix)


@pytest.mark.parametrize("debug", [None, "0", "false"])
def test_debug_off_without_secret_key_and_hosts_names_both(load_settings, debug):
    variables = {} if debug is None else {"DEBUG": debug}
    message = improperly_configured(load_settings(**variables))
    assert "DEBUG is off" in message
    assert "SECRET_KEY, ALLOWED_HOSTS" in message
    assert "make run" in message


def test_debug_off_names_only_the_missing_variable(load_settings):
    message = improperly_configured(
        load_settings(SECRET_KEY="s3cret", SITE_URL="https://tickets.example"))
    assert "ALLOWED_HOSTS" in message
    assert "SECRET_KEY" not in message
    assert "SITE_URL" not in message

    message = improperly_configured(
        load_settings(ALLOWED_HOSTS="tickets.example", SITE_URL="https://t.example"))
    assert "SECRET_KEY" in message
    assert "ALLOWED_HOSTS" not in message


def test_debug_off_without_site_url_refuses_to_start(load_settings):
    # Links in emails and API answers would otherwise point at 127.0.0.1.
    message = improperly_configured(
        load_settings(SECRET_KEY="s3cret", ALLOWED_HOSTS="tickets.example"))
    assert "DEBUG is off" in message
    assert "SITE_URL" in message
    assert "SECRET_KEY" not in message


def test_without_database_url_settings_refuse_and_point_at_make_run(load_settings):
    message = improperly_configured(load_settings(DEBUG="1"))
    assert "DATABASE_URL is not set" in message
    assert "make run" in message


def test_debug_off_with_secret_key_and_hosts_is_production(load_settings):
    values = loaded(load_settings(SECRET_KEY="s3cret",
                                  ALLOWED_HOSTS="tickets.example,www.tickets.example",
                                  SITE_URL="https://tickets.example/",
                                  DATABASE_URL=DATABASE_URL))
    assert values["DEBUG"] is False
    assert values["SITE_URL"] == "https://tickets.example"
    assert values["SECRET_KEY"] == "s3cret"
    assert values["ALLOWED_HOSTS"] == ["tickets.example", "www.tickets.example"]
    assert values["staticfiles_backend"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage")
    assert values["session_cookie_secure"] is True


def test_debug_with_only_a_database_uses_embedded_defaults(load_settings):
    values = loaded(load_settings(DEBUG="1", DATABASE_URL=DATABASE_URL))
    assert values["DEBUG"] is True
    assert values["SECRET_KEY"]
    assert "127.0.0.1" in values["ALLOWED_HOSTS"]
    assert values["SITE_URL"] == "http://127.0.0.1:8000"
    assert values["db_engine"] == "django.db.backends.postgresql"
    assert values["cache_backend"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["always_eager"] is True
    assert values["celery_app_eager"] is True
    assert values["broker_url"] == "memory://"
    assert values["email_backend"] == "django.core.mail.backends.console.EmailBackend"
    assert values["staticfiles_backend"] == (
        "django.contrib.staticfiles.storage.StaticFilesStorage")


def test_database_and_redis_urls_switch_to_postgresql_and_redis(load_settings):
    values = loaded(load_settings(
        DEBUG="1",
        DATABASE_URL="postgres://app:pw@db.internal:5432/ticketing",
        REDIS_URL="redis://cache.internal:6379/2",
    ))
    assert values["db_engine"] == "django.db.backends.postgresql"
    assert values["db_name"] == "ticketing"
    assert values["db_host"] == "db.internal"
    assert values["cache_backend"] == "django_redis.cache.RedisCache"
    assert values["cache_location"] == "redis://cache.internal:6379/2"
    assert values["broker_url"] == "redis://cache.internal:6379/2"
    assert values["celery_app_broker"] == "redis://cache.internal:6379/2"
    assert values["always_eager"] is False
    assert values["celery_app_eager"] is False


def test_settings_read_the_repository_dotenv_without_overwriting(load_settings):
    values = loaded(load_settings(DEBUG="1", DATABASE_URL=DATABASE_URL))
    assert values["read_env"] == [{"path": str(BASE_DIR / ".env"), "overwrite": False}]


def test_dotenv_fills_gaps_but_the_environment_wins(load_settings):
    load_settings.dotenv.write_text(
        "DEBUG=1\n"
        "SECRET_KEY=from-dotenv\n"
        "REDIS_URL=redis://from-dotenv:6379/0\n"
        f"DATABASE_URL={DATABASE_URL}\n"
    )
    values = loaded(load_settings(SECRET_KEY="from-environment"))
    assert values["DEBUG"] is True
    assert values["SECRET_KEY"] == "from-environment"
    assert values["cache_location"] == "redis://from-dotenv:6379/0"


def variables_read_by_settings() -> set[str]:
    tree = ast.parse((BASE_DIR / "ticketing" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func
        if isinstance(function, ast.Attribute):
            function = function.value
        if (isinstance(function, ast.Name) and function.id == "env"
                and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
    return names


def test_env_example_lists_exactly_what_settings_read():
    example = (BASE_DIR / ".env.example").read_text()
    settings_part, _, container_part = example.partition("--- Container")
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", settings_part, re.MULTILINE))
    assert listed == variables_read_by_settings()
    assert "WEB_CONCURRENCY=" in container_part


def test_readme_configuration_table_lists_what_settings_read():
    readme = (BASE_DIR / "README.md").read_text()
    names = variables_read_by_settings()
    assert {name for name in names if f"`{name}`" not in readme} == set()


def test_trusted_proxies_that_are_not_addresses_refuse_to_start(load_settings):
    message = improperly_configured(
        load_settings(DEBUG="1", DATABASE_URL=DATABASE_URL,
                      TRUSTED_PROXIES="10.0.0.0/8,proxy.internal"))
    assert "TRUSTED_PROXIES" in message
    assert "proxy.internal" in message
