"""The door page in Chromium against the live server (issue 18): door staff pick the
Paris session, a Lyon ticket is refused naming Lyon, a Paris ticket is let in and
the counter moves from 0/N to 1/N; a code decoded by the page's QR reader (jsQR,
loaded from this site) is sent like a typed one; a second phone sees the scans
through the polled counter. No Content-Security-Policy violation on the way.

With SAVE_DOC_SCREENSHOTS=1 the README's screenshots are refreshed:
docs/screenshots/checkin-phone.png (390×844) and checkin-desktop.png.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
import qrcode
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from admission.checkin import ticket_check_in
from admission.door import session_label
from admission.tests.door_fixtures import PARIS, door_user, ticket_for, tour
from bookings.models import Ticket
from bookings.tests.browser.conftest import TIMEOUT_MS, _block_outside

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = Path(settings.BASE_DIR) / "docs" / "screenshots"

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__csp.push(event.violatedDirective + " " + event.blockedURI);
});
"""

# Draws a QR code's modules (rows of 0/1) on a canvas, as a camera frame would show
# it, and hands the canvas to the page's own decoder.
DECODE_DRAWN_QR = """
async (rows) => {
  const scale = 6;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = rows.length * scale;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#000";
  rows.forEach((row, y) => row.forEach((dark, x) => {
    if (dark) context.fillRect(x * scale, y * scale, scale, scale);
  }));
  return await window.doorCheckin.decode(canvas);
}
"""


def _for_docs(page, name: str) -> None:
    """Only when asked (SAVE_DOC_SCREENSHOTS=1): a test run must not rewrite
    tracked files."""
    if os.environ.get("SAVE_DOC_SCREENSHOTS") == "1":
        page.wait_for_selector("body:not([data-flash])")  # the answer's flash is over
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / name))


def _qr_modules(text: str) -> list[list[int]]:
    code = qrcode.QRCode(border=4)
    code.add_data(text)
    code.make(fit=True)
    return [[int(dark) for dark in row] for row in code.get_matrix()]


def _tonight(days: int) -> dt.datetime:
    local = timezone.localtime(timezone.now(), PARIS) + dt.timedelta(days=days)
    return local.replace(hour=20, minute=0, second=0, microsecond=0)


@pytest.fixture
def door_night():
    night = tour(paris_at=_tonight(0) + dt.timedelta(hours=2), lyon_at=_tonight(1))
    door_user(night.organiser, "door")
    door_user(night.organiser, "door2")
    return night


@pytest.fixture
def watched_phone(phone):
    """The phone page, with the browser's own report of each blocked resource."""
    phone.add_init_script(RECORD_VIOLATIONS)
    yield phone
    assert phone.evaluate("window.__csp") == []


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/checkin/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill("correct horse battery staple")
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/checkin/")


def _pick(page, session) -> None:
    form = page.get_by_test_id("choose-sessions")
    form.locator(f"input[name=sessions][value='{session.pk}']").check()
    form.get_by_role("button", name="Check in these sessions").click()
    expect(page.get_by_test_id("chosen-sessions")).to_contain_text(
        session_label(session)
    )


def _scan(page, code: str) -> None:
    field = page.get_by_label("Scan the QR code or type the ticket code")
    field.fill(code)
    field.press("Enter")


def test_the_paris_door_refuses_lyon_admits_paris_and_counts(
    watched_phone, new_page, live_server, shoot, door_night
):
    phone = watched_phone
    paris, lyon = door_night.paris, door_night.lyon
    lyon_ticket = ticket_for(lyon, door_night.regular)
    paris_tickets = [
        ticket_for(paris, door_night.regular),
        ticket_for(paris, door_night.regular),
        ticket_for(paris, door_night.vip),
    ]
    expected = len(paris_tickets)
    requests: list[str] = []
    phone.on("request", lambda request: requests.append(request.url))
    total = phone.get_by_test_id("counter-total")
    result = phone.locator("#checkin-result [data-result]")

    _log_in(phone, live_server, "door")
    expect(
        phone.get_by_role("heading", name="Which sessions are you checking in?")
    ).to_be_visible()
    _pick(phone, paris)
    expect(total).to_have_text(f"0 / {expected}")
    shoot(phone, "paris-chosen")

    _scan(phone, lyon_ticket.code)

    expect(result).to_have_attribute("data-result", "wrong_session")
    expect(result).to_contain_text(f"This ticket is for {session_label(lyon)}")
    expect(result).to_contain_text("Lyon")
    expect(total).to_have_text(f"0 / {expected}")
    shoot(phone, "lyon-refused")

    _scan(phone, paris_tickets[0].code.lower())

    expect(result).to_have_attribute("data-result", "ok")
    expect(result).to_contain_text("Valid — Ada Lovelace, Regular")
    expect(total).to_have_text(f"1 / {expected}")
    expect(phone.locator("[data-ticket-type] >> nth=0")).to_contain_text(
        "Regular 1 / 2"
    )
    shoot(phone, "paris-admitted")
    _for_docs(phone, "checkin-phone.png")
    # Sent in the background: the page (and a running camera) stayed put.
    assert phone.url == f"{live_server.url}/checkin/"
    lyon_ticket.refresh_from_db()
    assert lyon_ticket.status == Ticket.Status.VALID

    # The camera's path without a camera: the page's own QR reader decodes a drawn
    # code (jsQR here: Chromium on Linux has no BarcodeDetector) and sends it.
    phone.evaluate("window.doorCheckin.loadDecoder()")
    decoder = [url for url in requests if url.endswith("/jsQR.js")]
    assert decoder == [f"{live_server.url}/static/vendor/jsqr-1.4.0/jsQR.js"]
    decoded = phone.evaluate(DECODE_DRAWN_QR, _qr_modules(paris_tickets[1].secret))
    assert decoded == paris_tickets[1].secret
    phone.evaluate("(text) => window.doorCheckin.submitScan(text)", decoded)
    expect(result).to_have_attribute("data-result", "ok")
    expect(total).to_have_text(f"2 / {expected}")

    # A second door phone sees the scans of the first through the polled counter.
    desk = new_page()
    desk.add_init_script(RECORD_VIOLATIONS)
    _log_in(desk, live_server, "door2")
    _pick(desk, paris)
    desk_total = desk.get_by_test_id("counter-total")
    expect(desk_total).to_have_text(f"2 / {expected}")
    ticket_check_in(
        token=paris_tickets[2].secret,
        organiser_ids=[door_night.organiser.pk],
        actor="api key: gate 2",
        session_ids=[paris.pk],
    )
    expect(desk_total).to_have_text(f"3 / {expected}", timeout=TIMEOUT_MS)
    expect(total).to_have_text(f"3 / {expected}", timeout=TIMEOUT_MS)
    _scan(desk, lyon_ticket.secret)
    expect(desk.locator("#checkin-result [data-result]")).to_have_attribute(
        "data-result", "wrong_session"
    )
    shoot(desk, "desk-refused")
    _for_docs(desk, "checkin-desktop.png")
    assert desk.evaluate("window.__csp") == []


def test_without_javascript_the_form_still_checks_in(browser, live_server, door_night):
    ticket = ticket_for(door_night.paris, door_night.regular)
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", _block_outside)
    page = context.new_page()
    try:
        _log_in(page, live_server, "door")
        _pick(page, door_night.paris)
        expect(page.locator("[data-camera]")).to_be_hidden()
        _scan(page, ticket.code)
        page.wait_for_load_state()
        expect(page.locator("#checkin-result [data-result]")).to_have_attribute(
            "data-result", "ok"
        )
        expect(page.get_by_test_id("counter-total")).to_have_text(
            re.compile(r"^1 / 1$")
        )
    finally:
        context.close()
