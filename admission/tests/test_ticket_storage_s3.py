"""Ticket PDFs on S3 (moto's server on 127.0.0.1): private objects, served through a
signed URL that carries a short lifetime."""

import datetime as dt
import time
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from admission.services import booking_document_get_or_render
from bookings.access import booking_access_token
from bookings.services import booking_confirm
from bookings.tests.helpers import hold
from events.tests.factories import TicketTypeFactory

BUCKET = "ticket-files"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, settings):
    """A private bucket, and the default storage pointed at it. Changing STORAGES
    through the `settings` fixture sends setting_changed, which makes Django drop
    its cached storages (`storages`, `default_storage`), before and after."""
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS
    )
    client.create_bucket(Bucket=BUCKET, ACL="private")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
            },
        },
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def booking(session):
    ticket_type = TicketTypeFactory(event=session.event, max_per_order=10)
    return booking_confirm(booking_id=hold(session, (ticket_type, 2)).pk)


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=10, allow_redirects=False)


def signed_lifetime(url: str) -> int:
    """Seconds between signing and expiry, for SigV4 and SigV2 query signatures."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if "X-Amz-Expires" in query:
        assert "X-Amz-Signature" in query
        signed_at = dt.datetime.strptime(
            query["X-Amz-Date"] + "+0000", "%Y%m%dT%H%M%SZ%z"
        )
        age = dt.datetime.now(dt.UTC) - signed_at
        assert age < dt.timedelta(seconds=30)
        return int(query["X-Amz-Expires"])
    assert "Signature" in query
    return int(query["Expires"]) - int(time.time())


def test_the_pdf_is_a_private_object_served_by_a_signed_url(s3, s3_endpoint, booking):
    document = booking_document_get_or_render(booking.pk)

    key = document.pdf.name
    assert key.startswith("tickets/")
    assert key.endswith(f"/{booking.reference}.pdf")
    grants = s3.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert [g["Grantee"]["Type"] for g in grants] == ["CanonicalUser"]
    assert get(f"{s3_endpoint}/{BUCKET}/{key}").status_code == 403

    signed = get(document.pdf.url)
    assert signed.status_code == 200
    assert signed.content.startswith(b"%PDF-")
    assert 295 <= signed_lifetime(document.pdf.url) <= 300


def test_the_download_redirects_to_a_signed_url(client, s3, booking):
    path = f"/b/{booking.reference}/tickets.pdf"

    response = client.get(f"{path}?t={booking_access_token(booking.reference)}")

    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]
    pdf = get(response["Location"])
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    # Missing from the bucket: rendered again, under a new key.
    s3.delete_object(Bucket=BUCKET, Key=booking.document.pdf.name)
    again = client.get(path)
    assert again.status_code == 302
    assert again["Location"] != response["Location"]
    assert get(again["Location"]).status_code == 200


def test_the_signed_url_expires(s3, booking, settings):
    settings.STORAGES["default"]["OPTIONS"]["querystring_expire"] = 1
    settings.STORAGES = {**settings.STORAGES}  # setting_changed: storages rebuilt
    url = booking_document_get_or_render(booking.pk).pdf.url
    assert signed_lifetime(url) <= 1

    time.sleep(2)
    expired = get(url)

    if expired.status_code == 200:
        # Checked with moto 5.2.5: its S3 checks the ACL of unsigned requests but
        # not the expiry of signed ones. S3 itself answers 403 "Request has expired".
        pytest.xfail("moto does not enforce the expiry of presigned URLs")
    assert expired.status_code == 403
