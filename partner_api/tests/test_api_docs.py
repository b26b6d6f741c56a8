"""The interactive API docs work offline: Swagger UI comes from local static files."""

import pytest


@pytest.mark.django_db
def test_api_docs_load_swagger_ui_from_local_static_files(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html
