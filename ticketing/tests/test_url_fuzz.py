"""Every URL pattern of the project, fed hostile input, as three kinds of caller.

`get_resolver()` is walked recursively, so a page, webhook or admin view added later
is fuzzed without anyone listing it here. Each pattern gets a concrete URL (its
converters filled with values that exist) and then: hostile path values (control
characters, NUL, over-long, out-of-range numbers), hostile query strings, its own
forms posted back with every field made hostile (found by parsing the page, hidden
fields included), JSON bodies with NUL escapes and deep nesting, bodies of the wrong
content type and an over-size body. Callers: anonymous, a superuser, a partner API
key. Nothing may answer 5xx, and a request that is refused (4xx) must write nothing
(counted with PostgreSQL's per-transaction statistics, sessions aside).

Each request runs in a savepoint rolled back afterwards, so every request sees the
same data and a failure cannot poison the next.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.regex_helper import normalize

from bookings.tests.factories import AttendeeFactory, BookingLineFactory
from bookings.tests.ticket_factories import TicketFactory
from events.tests.factories import (
    AuditEntryFactory,
    MembershipFactory,
    SessionFactory,
    TicketTypeFactory,
    UserFactory,
)
from integrations.tests.factories import (
    ExternalOrderFactory,
    OversoldAlertFactory,
    PlatformWebhookFactory,
    SyncRunFactory,
)
from partner_api.api_keys import ApiKey
from partner_api.tests.factories import (
    PartnerWebhookDeliveryFactory,
    PartnerWebhookFactory,
)
from payments.tests.factories import (
    ProviderAccountFactory,
    RefundFactory,
    WebhookDeliveryFactory,
)
from ticketing.tests.broker import dead_port

# Tables a refused request may still touch: the session a login keeps.
UNCOUNTED_TABLES = {"django_session"}
# A rejected (unsigned) webhook delivery is kept, bounded, for the organiser to see
# (issue 16 item 5): its own table may grow on a 4xx, nothing else.
WEBHOOK_TABLES = {
    "/webhooks/stripe/": {"payments_webhookdelivery"},
    "/webhooks/stripe/connect/": {"payments_webhookdelivery"},
    "/webhooks/paystack/": {"payments_webhookdelivery"},
    "/webhooks/eventbrite/%(token)s/": {"integrations_platformwebhook"},
    "/webhooks/humanitix/%(token)s/": {"integrations_platformwebhook"},
    # A sync that could not be queued is recorded as a failed run (and audited)
    # before the 409 says so: the organiser sees the attempt in admin.
    "/api/v1/integrations/%(platform)s/sync/": {
        "integrations_syncrun",
        "ticketing_auditentry",
    },
}
ERROR_KEYS = {"code", "message", "fields"}
BREVO_SECRET = "brevo:fuzz-secret"
BREVO_AUTH = "Basic " + base64.b64encode(BREVO_SECRET.encode()).decode()

CONTROL = ["x\x00y", "x\x01\x1fy", "\x7f"]
HOSTILE_PATH = {
    "str": [*CONTROL, "A" * 3000, "%", "é\u202e"],
    "path": [*CONTROL, "A" * 3000, "9" * 25, "1/../2"],
    "slug": ["a" * 3000],
    "int": ["9" * 25],
}
QUERY_KEYS = [
    "q", "p", "o", "e", "page", "next", "session", "status", "reference", "email",
    "lang", "language", "cursor", "limit", "offset", "ordering", "format", "code",
    "token", "trxref", "_to_field", "_popup", "_changelist_filters",
    "id__exact", "organiser__id__exact", "session__id__exact", "status__exact",
    "is_active__exact", "created_at__gte", "starts_at__gte",
]  # fmt: skip
# Admin changelists refuse a query with any unknown key before using the others, so
# the keys they know go alone.
QUERY_GROUPS = [["q"], ["p"], ["o"], QUERY_KEYS[3:]]
QUERY_VALUES = ["x\x00y", "\x01", "9" * 25, "A" * 5000, "'\"<>%é\u202e"]
LINK_VALUES = ["9" * 25, "A" * 3000, "é\u202e"]
DEEP = 50_000
JSON_BODIES = [
    ("nul-escape", '{"a": "x\\u0000y", "reference": "\\u0000", "email": "\\u0000"}'),
    ("nul-key", '{"\\u0000": 1}'),
    ("control", json.dumps({"a": "\x01\x1f", "name": "\x7f"})),
    ("deep-list", "[" * DEEP + "]" * DEEP),
    ("deep-object", '{"a":' * DEEP + "1" + "}" * DEEP),
    ("huge-number", '{"quantity": 1' + "0" * 5000 + "}"),
    ("not-json", "{'a': nope"),
    ("raw-nul", '{"a": "x\x00y"}'),
    ("lone-surrogate", '{"a": "\\ud800", "name": "\\udfff"}'),
]
OTHER_BODIES = [
    ("text/plain", b"x\x00y"),
    ("application/x-www-form-urlencoded", b"a=%00&b=%ff%fe&c=\x00&%00=1"),
    ("multipart/form-data; boundary=zz", b"--zz\r\nnonsense\x00\r\n--zz"),
    ("multipart/form-data", b"no boundary"),
    ("application/xml", b"<a>\x00</a>"),
]
OVERSIZE = b'{"a": "' + b"A" * (3 * 1024 * 1024) + b'"}'


# -- patterns -------------------------------------------------------------------------


@dataclass
class Route:
    template: str  # "/e/%(slug)s/"
    converters: dict[str, str]  # name -> converter kind
    name: str


def _converter_kind(converter) -> str:
    return type(converter).__name__.replace("Converter", "").lower() or "str"


def _template(pattern) -> tuple[str, dict[str, str]]:
    """A %-format template and the converter kind of each placeholder."""
    kinds: dict[str, str] = {}
    if hasattr(pattern, "converters") and pattern.converters:
        for name, converter in pattern.converters.items():
            kinds[name] = _converter_kind(converter)
    regex = pattern.regex.pattern
    candidates = normalize(regex)
    text, params = candidates[0] if candidates else ("", [])
    for param in params:
        kinds.setdefault(param, "path" if param == "url" else "str")
    return text, kinds


def _walk(patterns, prefix: str = "", kinds: dict | None = None, namespace=""):
    kinds = kinds or {}
    for pattern in patterns:
        text, found = _template(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(
                pattern.url_patterns,
                prefix + text,
                {**kinds, **found},
                namespace + (f"{pattern.namespace}:" if pattern.namespace else ""),
            )
        elif isinstance(pattern, URLPattern):
            name = namespace + (pattern.name or "")
            yield Route("/" + prefix + text, {**kinds, **found}, name)


def routes() -> list[Route]:
    seen = set()
    out = []
    for route in _walk(get_resolver().url_patterns):
        if route.template not in seen:
            seen.add(route.template)
            out.append(route)
    return out


# -- data -----------------------------------------------------------------------------


@dataclass
class World:
    values: dict[str, str]
    admin_ids: dict[str, str]  # "events_event" -> pk
    api_key: str
    superuser: object


def _world() -> World:
    session = SessionFactory(capacity=50)
    event = session.event
    organiser = event.organiser
    ticket_type = TicketTypeFactory(event=event)
    line = BookingLineFactory(
        booking__organiser=organiser,
        booking__event=event,
        booking__session=session,
        ticket_type=ticket_type,
    )
    booking = line.booking
    ticket = TicketFactory(attendee=AttendeeFactory(line=line))
    RefundFactory(organiser=organiser, payment__booking=booking)
    webhook = PartnerWebhookFactory(organiser=organiser)
    PartnerWebhookDeliveryFactory(webhook=webhook)
    WebhookDeliveryFactory(organiser=organiser)
    ProviderAccountFactory(organiser=organiser)
    ExternalOrderFactory(listing__connection__organiser=organiser)
    SyncRunFactory(connection__organiser=organiser)
    platform_webhook = PlatformWebhookFactory(connection__organiser=organiser)
    OversoldAlertFactory(session=session)
    AuditEntryFactory(organiser_id=organiser.pk)
    MembershipFactory(organiser=organiser)
    superuser = UserFactory(is_superuser=True, is_staff=True)
    key, plain = ApiKey.generate(
        organiser=organiser,
        name="Fuzzer",
        scopes=["read", "write", "checkin", "sync"],
    )
    key.save()
    admin_ids = {}
    for model in admin.site._registry:
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            admin_ids[f"{model._meta.app_label}_{model._meta.model_name}"] = str(
                first.pk
            )
    token = getattr(platform_webhook.connection, "webhook_token", "") or "token"
    values = {
        "slug": event.slug,
        "pk": str(session.pk),
        "reference": booking.reference,
        "code": ticket.code,
        "platform": "eventbrite",
        "esp": "brevo",
        "token": token,
        "app_label": "events",
        "url": "",
    }
    return World(
        values=values,
        admin_ids=admin_ids,
        api_key=plain,
        superuser=superuser,
    )


def _valid_values(route: Route, world: World) -> dict[str, str]:
    values = {}
    for name in route.converters:
        if name == "object_id":
            model = route.name.removeprefix("admin:").rsplit("_", 1)[0]
            values[name] = world.admin_ids.get(model, "1")
        else:
            values[name] = world.values.get(name, "1")
    return values


def _url(route: Route, values: dict[str, str]) -> str:
    quoted = {name: quote(value, safe="/") for name, value in values.items()}
    return route.template % quoted


# -- forms ----------------------------------------------------------------------------


class _Page(HTMLParser):
    """A page's POST forms (action and every named control, hidden ones too) and the
    query keys of its own links (an admin changelist's filters)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.query_keys: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "action": attrs.get("action") or "",
                    "method": (attrs.get("method") or "get").lower(),
                    "fields": {},
                }
            )
        elif tag in ("input", "select", "textarea") and self.forms and "name" in attrs:
            kind = (attrs.get("type") or tag).lower()
            value = attrs.get("value") or ""
            self.forms[-1]["fields"].setdefault(attrs["name"], (kind, value))
        elif tag == "a" and (attrs.get("href") or "").startswith("?"):
            for pair in attrs["href"][1:].split("&"):
                self.query_keys.add(pair.split("=", 1)[0])


def _parse_page(response) -> _Page | None:
    if "html" not in response.get("Content-Type", ""):
        return None
    page = _Page()
    page.feed(response.content.decode(errors="replace"))
    page.forms = [form for form in page.forms if form["method"] == "post"]
    return page


PLAUSIBLE = {"email": "fuzz@example.com", "number": "1", "text": "Fuzz"}


def _hostile_forms(form: dict) -> list[tuple[str, dict]]:
    """The form posted with every field made hostile, then with only its hidden
    fields hostile and the others filled plausibly (so that it gets past validation
    to whatever stores the hidden values)."""
    fields = form["fields"]
    out = []
    for label, hostile in (
        ("nul", "x\x00y"),
        ("control", "x\x01\x1by"),
        ("long", "A" * 100_000),
        ("number", "9" * 25),
    ):
        everything = {
            name: (value if name == "csrfmiddlewaretoken" else hostile)
            for name, (_kind, value) in fields.items()
        }
        out.append((f"all-{label}", everything))
        hidden = {}
        for name, (kind, value) in fields.items():
            if kind == "hidden" and name != "csrfmiddlewaretoken":
                hidden[name] = hostile
            elif value in ("", "0") and kind in PLAUSIBLE:
                hidden[name] = PLAUSIBLE[kind]
            else:
                hidden[name] = value
        out.append((f"hidden-{label}", hidden))
    return out


# -- the run --------------------------------------------------------------------------


def _writes() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del "
            "FROM pg_stat_xact_user_tables"
        )
        return {name: count for name, count in cursor.fetchall() if count}


class _Rollback(Exception):
    pass


def _send(client: Client, method: str, url: str, **kwargs):
    """One request in a savepoint that is always rolled back; returns the status and
    the tables it wrote to."""
    result = {}
    if url.startswith("/anymail/"):
        kwargs.setdefault("HTTP_AUTHORIZATION", BREVO_AUTH)
    savepoint = transaction.atomic()
    # Services open `atomic(durable=True)`; Django allows that inside a test case's
    # own atomic blocks only, and this savepoint stands in for one.
    savepoint._from_testcase = True
    try:
        with savepoint:
            before = _writes()
            response = getattr(client, method)(url, **kwargs)
            result["status"] = response.status_code
            result["response"] = response
            if response.status_code < 500:
                after = _writes()
                result["wrote"] = sorted(
                    name
                    for name, count in after.items()
                    if count != before.get(name, 0) and name not in UNCOUNTED_TABLES
                )
            raise _Rollback
    except _Rollback:
        pass
    except Exception as error:  # the savepoint itself broke: a DB error leaked
        result.setdefault("status", 500)
        result["error"] = repr(error)[:200]
    return result


def _cases(route: Route, world: World, *, admin_user: bool):
    """(label, method, url, kwargs) for one route. Admin views behind a login get
    only their path cases when the caller is not staff (every one is the same
    redirect); a changelist gets its search, page and ordering keys alone."""
    valid = _valid_values(route, world)
    url = _url(route, valid)
    is_admin = route.template.startswith("/admin/")
    yield "valid", "get", url, {}
    for name, kind in route.converters.items():
        for value in HOSTILE_PATH.get(kind, HOSTILE_PATH["str"]):
            target = _url(route, {**valid, name: value})
            yield f"path {name}={value[:12]!r}", "get", target, {}
    if is_admin and not admin_user:
        return
    groups = QUERY_GROUPS if route.name.endswith("_changelist") else [QUERY_GROUPS[-1]]
    for value in QUERY_VALUES:
        for group in groups:
            query = urlencode({key: value for key in group})
            yield f"query {group[0]}={value[:12]!r}", "get", f"{url}?{query}", {}
    yield "query-key-nul", "get", f"{url}?a%00b=1&%01=2", {}
    bodies = [
        (f"json {label}", "application/json", body) for label, body in JSON_BODIES
    ] + [(f"body {kind}", kind, body) for kind, body in OTHER_BODIES]
    if is_admin:
        # Admin views read forms only; their forms are fuzzed from the page.
        bodies = [bodies[0], bodies[len(JSON_BODIES) + 1]]
    else:
        bodies.append(("oversize", "application/json", OVERSIZE))
    for label, content_type, body in bodies:
        yield label, "post", url, {"data": body, "content_type": content_type}


def _fuzz(client: Client, world: World, *, admin_user=False, skip=lambda r: False):
    failures = []
    count = 0
    forms_seen = set()
    for route in routes():
        if skip(route):
            continue
        page = None
        url = _url(route, _valid_values(route, world))
        for label, method, target, kwargs in _cases(
            route, world, admin_user=admin_user
        ):
            result = _send(client, method, target, **kwargs)
            count += 1
            if label == "valid" and result.get("status") == 200:
                page = _parse_page(result["response"])
            failures += _judge(route, label, method, target, result)
        if page is None:
            continue
        for key in sorted(page.query_keys)[:8]:
            for value in LINK_VALUES:
                target = f"{url}?{urlencode({key: value})}"
                result = _send(client, "get", target)
                count += 1
                failures += _judge(route, f"link {key}", "get", target, result)
        for form in page.forms:
            action = form["action"] or url
            # The language form is on every page: once is enough.
            signature = (action, tuple(sorted(form["fields"])))
            if not action.startswith("/") or signature in forms_seen:
                continue
            forms_seen.add(signature)
            for label, data in _hostile_forms(form):
                result = _send(client, "post", action, data=data)
                count += 1
                failures += _judge(route, f"form {label}", "post", action, result)
    return failures, count


def _judge(route, label, method, url, result) -> list[str]:
    status = result.get("status")
    where = f"{method.upper()} {url[:80]!r} ({route.template}) [{label}]"
    if status is None or status >= 500:
        return [f"{where}: {status} {result.get('error', '')}"]
    if status >= 400 and result.get("wrote"):
        wrote = set(result["wrote"]) - WEBHOOK_TABLES.get(route.template, set())
        if wrote:
            return [f"{where}: {status} but wrote to {', '.join(sorted(wrote))}"]
    if status >= 400 and url.startswith("/api/v1/"):
        try:
            body = json.loads(result["response"].content)
        except ValueError:
            body = None
        if not (isinstance(body, dict) and set(body.get("error", {})) >= ERROR_KEYS):
            return [f"{where}: {status} without the API's error shape"]
    return []


@pytest.fixture
def world(db, settings):
    settings.CHECKOUT_HOLDS_PER_IP_PER_HOUR = 10_000
    settings.CHECKOUT_HOLDS_PER_EMAIL_PER_HOUR = 10_000
    # Email through Brevo with delivery tracking, as production runs it: the one
    # tracking route mounted (`/anymail/brevo/tracking/`) is fuzzed behind its
    # basic auth (`_send` sends it), so the hostile bodies reach anymail's parser.
    # Brevo's API is a port where nothing listens: nothing leaves the machine.
    settings.EMAIL_BACKEND = "anymail.backends.brevo.EmailBackend"
    settings.EMAIL_TRACKING = True
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "BREVO_API_KEY": "xkeysib-fuzz",
        "BREVO_API_URL": f"http://127.0.0.1:{dead_port()}/v3/",
        "WEBHOOK_SECRET": BREVO_SECRET,
    }
    return _world()


@pytest.fixture(autouse=True)
def _no_api_throttle(monkeypatch):
    from partner_api.auth import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "allow_request", lambda *a, **k: True)


def _report(failures, count):
    assert not failures, f"{len(failures)} of {count} requests failed:\n" + "\n".join(
        failures
    )


@pytest.mark.django_db
def test_every_url_as_anonymous(world):
    client = Client(raise_request_exception=False)
    _report(*_fuzz(client, world))


@pytest.mark.django_db
def test_every_url_as_superuser(world):
    client = Client(raise_request_exception=False)
    client.force_login(world.superuser)
    _report(*_fuzz(client, world, admin_user=True))


@pytest.mark.django_db
def test_every_url_with_an_api_key(world):
    client = Client(
        raise_request_exception=False,
        HTTP_AUTHORIZATION=f"Bearer {world.api_key}",
    )
    _report(
        *_fuzz(client, world, skip=lambda route: route.template.startswith("/admin"))
    )


@pytest.mark.django_db
def test_the_brevo_tracking_route_is_in_the_walk_and_reached(world):
    """The fuzz above really reaches anymail's Brevo parser: the route is walked and
    a hostile body gets past the basic auth (200 for an event about no message of
    ours, 400 for one it cannot read), not a 401 or a 404."""
    assert "/anymail/%(esp)s/tracking/" in {route.template for route in routes()}
    client = Client(raise_request_exception=False)
    for body in (
        '{"event": "hard_bounce", "message-id": 7}',
        "[1]",
        '{"a": "\\u0000"}',
    ):
        posted = _send(
            client,
            "post",
            "/anymail/brevo/tracking/",
            data=body,
            content_type="application/json",
        )
        assert posted["status"] in (200, 400), (body, posted)
        assert not posted["wrote"], body
    unsigned = client.post(
        "/anymail/brevo/tracking/", data="{}", content_type="application/json"
    )
    assert unsigned.status_code in (400, 401, 403)
