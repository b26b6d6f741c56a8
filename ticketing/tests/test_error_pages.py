import pytest
from django.template.loader import render_to_string

pytestmark = pytest.mark.django_db


def test_missing_page_is_the_site_404_in_the_buyers_language(client):
    english = client.get("/e/no-such-event/")
    french = client.get("/e/no-such-event/", HTTP_ACCEPT_LANGUAGE="fr")
    assert english.status_code == french.status_code == 404
    assert "Page not found" in english.content.decode()
    assert "Page introuvable" in french.content.decode()
    assert 'href="/b/lookup/"' in english.content.decode()


def test_server_error_page_renders_without_a_request():
    page = render_to_string("500.html")
    assert "Something went wrong" in page
    assert "{%" not in page
