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
