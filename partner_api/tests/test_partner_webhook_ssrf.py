"""Partner webhook URLs cannot reach inside (issue 16 item 8): names are resolved at
registration and at every delivery, the connection goes to the address that was
judged, every IPv6 form of an internal IPv4 address is refused, and redirects are
never followed. DNS is faked (`socket.getaddrinfo`); receivers are local servers."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.exceptions import ValidationError
from django.utils import timezone

from events.tests.factories import OrganiserFactory, UserFactory
from partner_api.models import PartnerWebhook, PartnerWebhookDelivery
from partner_api.webhooks import services
from ticketing.lib import netguard

from .factories import PartnerWebhookFactory

Status = PartnerWebhookDelivery.Status
PUBLIC = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS: `dns[name] = [address, ...]`, or a list of such lists answered one
    lookup after another (the last one repeats). IP literals answer themselves;
    other names do not resolve. Nothing real is ever asked."""
    table: dict[str, list] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            entry = table[host]
            if isinstance(entry[0], list):
                answers = entry.pop(0) if len(entry) > 1 else entry[0]
            else:
                answers = entry
        elif _is_literal(host):
            answers = [host]
        else:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in answers
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.server.hits.append((self.path, self.headers.get("Host")))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.port}/inside")
            self.end_headers()
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.hits = []
    server.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _delivery(url: str) -> PartnerWebhookDelivery:
    return PartnerWebhookDelivery.objects.create(
        webhook=PartnerWebhookFactory(url=url),
        event="booking.confirmed",
        payload={"id": "evt_1", "type": "booking.confirmed", "data": {}},
        next_attempt_at=timezone.now(),
    )


LOOPBACK_AND_INTERNAL = [
    "127.0.0.1",
    "10.0.0.8",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::a00:8",  # IPv4-compatible 10.0.0.8
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::7f00:1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:8::1",  # 6to4 of 10.0.0.8
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]


@pytest.mark.parametrize("address", LOOPBACK_AND_INTERNAL)
def test_every_internal_address_form_is_refused(address):
    assert netguard.address_refused(address)


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address):
    assert not netguard.address_refused(address)


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::", "::7f00:1"])
@pytest.mark.django_db
def test_registration_refuses_a_name_resolving_inside(dns, address):
    dns["hooks.partner.example"] = [PUBLIC, address]  # one bad answer is enough
    webhook = PartnerWebhookFactory.build(
        organiser=OrganiserFactory(), url="https://hooks.partner.example/in"
    )

    with pytest.raises(ValidationError, match="public address"):
        webhook.full_clean()


@pytest.mark.django_db
def test_registration_refuses_a_name_that_does_not_resolve(dns):
    webhook = PartnerWebhookFactory.build(
        organiser=OrganiserFactory(), url="https://nowhere.partner.example/in"
    )

    with pytest.raises(ValidationError, match="does not resolve"):
        webhook.full_clean()


@pytest.mark.django_db
def test_admin_registration_of_a_name_resolving_inside_saves_nothing(client, dns):
    dns["hooks.partner.example"] = ["64:ff9b::a9fe:a9fe"]
    organiser = OrganiserFactory()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    response = client.post(
        "/admin/partner_api/partnerwebhook/add/",
        {
            "organiser": organiser.pk,
            "url": "https://hooks.partner.example/in",
            "events": ["booking.confirmed"],
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert "must be a public address" in response.content.decode()
    assert not PartnerWebhook.objects.exists()


@pytest.mark.django_db
def test_the_connection_goes_to_the_judged_address_with_the_original_host(
    dns, receiver, settings
):
    settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK = True
    dns["hooks.partner.example"] = ["127.0.0.1"]
    delivery = _delivery(f"http://hooks.partner.example:{receiver.port}/hook")

    assert services.delivery_send(delivery.pk) == Status.SUCCEEDED

    assert receiver.hits == [("/hook", f"hooks.partner.example:{receiver.port}")]


@pytest.mark.django_db
def test_a_name_rebound_inside_after_the_check_is_not_connected_to(dns, receiver):
    # First lookup (the check) says public; every later one says loopback. An
    # unpinned client would look the name up again to connect, and reach inside.
    dns["hooks.partner.example"] = [[PUBLIC], ["127.0.0.1"]]
    delivery = _delivery(f"http://hooks.partner.example:{receiver.port}/hook")

    assert services.delivery_send(delivery.pk) == Status.FAILED

    assert receiver.hits == []
    delivery.refresh_from_db()
    assert "private address" in delivery.last_error
    assert delivery.next_attempt_at is not None  # retried: DNS may be fixed


@pytest.mark.django_db
def test_a_nat64_loopback_name_is_never_called(dns, receiver, settings):
    settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK = False
    dns["hooks.partner.example"] = ["64:ff9b::7f00:1"]
    delivery = _delivery(f"http://hooks.partner.example:{receiver.port}/hook")

    assert services.delivery_send(delivery.pk) == Status.FAILED

    assert receiver.hits == []
    delivery.refresh_from_db()
    assert "private address" in delivery.last_error


@pytest.mark.django_db
def test_a_redirect_is_not_followed_by_a_real_connection(dns, receiver, settings):
    settings.PARTNER_WEBHOOKS_ALLOW_LOOPBACK = True
    dns["hooks.partner.example"] = ["127.0.0.1"]
    delivery = _delivery(f"http://hooks.partner.example:{receiver.port}/redirect")

    assert services.delivery_send(delivery.pk) == Status.FAILED

    assert [path for path, _host in receiver.hits] == ["/redirect"]  # not /inside
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302


def test_https_keeps_the_name_for_sni_and_the_certificate(dns):
    dns["hooks.partner.example"] = [PUBLIC]
    session = netguard.guarded_session(timeout=(1, 1))
    request = requests.Request("POST", "https://hooks.partner.example/in").prepare()

    adapter = session.get_adapter(request.url)
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(
        request, verify=True
    )

    assert host_params["host"] == PUBLIC
    assert pool_kwargs["server_hostname"] == "hooks.partner.example"
    assert pool_kwargs["assert_hostname"] == "hooks.partner.example"
    assert request.headers["Host"] == "hooks.partner.example"
