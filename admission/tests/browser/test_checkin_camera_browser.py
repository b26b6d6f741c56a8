"""The door page's camera path in Chromium, with Chromium's fake camera playing a
video of a ticket's QR code (no real camera here): "Scan with the camera" starts
it, the page's reader (jsQR: Chromium on Linux has no BarcodeDetector) decodes the
frames and sends the code like a typed one, the ticket is let in, and the QR held
up in front of the camera is not sent a second time."""

from __future__ import annotations

import datetime as dt

import pytest
import qrcode
from playwright.sync_api import expect

from admission.models import CheckIn
from admission.tests.door_fixtures import door_user, ticket_for, tour
from bookings.models import Ticket
from bookings.tests.browser.conftest import chromium

from .test_checkin_browser import RECORD_VIOLATIONS, _log_in, _pick, _tonight

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "camera-test-secret-0123456789abcdefghijklmnopq"
WIDTH, HEIGHT = 640, 480


def _y4m_of_qr(text: str, path) -> None:
    """A two-frame YUV4MPEG2 video of `text`'s QR code, black on white, centred;
    Chromium's fake camera plays it in a loop."""
    image = qrcode.make(text, border=4, box_size=6).get_image().convert("L")
    frame = bytearray(b"\xff" * (WIDTH * HEIGHT))
    left, top = (WIDTH - image.width) // 2, (HEIGHT - image.height) // 2
    pixels = image.tobytes()
    for y in range(image.height):
        row = pixels[y * image.width : (y + 1) * image.width]
        start = (top + y) * WIDTH + left
        frame[start : start + image.width] = row
    chroma = b"\x80" * (WIDTH * HEIGHT // 2)  # 4:2:0, no colour
    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + (b"FRAME\n" + bytes(frame) + chroma) * 2)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium whose camera films a ticket's QR code (replaces the harness's)."""
    video = tmp_path_factory.mktemp("camera") / "qr.y4m"
    _y4m_of_qr(SECRET, video)
    with chromium(
        [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ]
    ) as browser:
        yield browser


def test_a_qr_held_up_to_the_camera_is_let_in_once(phone, live_server):
    night = tour(paris_at=_tonight(0) + dt.timedelta(hours=2), lyon_at=_tonight(1))
    door_user(night.organiser, "door")
    ticket = ticket_for(night.paris, night.regular, secret=SECRET)
    ticket_for(night.paris, night.vip)
    phone.context.grant_permissions(["camera"], origin=live_server.url)
    phone.add_init_script(RECORD_VIOLATIONS)
    _log_in(phone, live_server, "door")
    _pick(phone, night.paris)
    result = phone.locator("#checkin-result [data-result]")

    phone.get_by_role("button", name="Scan with the camera").click()

    expect(phone.locator("[data-camera-video]")).to_be_visible()
    expect(result).to_have_attribute("data-result", "ok")
    expect(result).to_contain_text("Valid — Ada Lovelace, Regular")
    expect(phone.get_by_test_id("counter-total")).to_have_text("1 / 2")
    # The code stays in front of the camera: well past the pause, no second send.
    # (Waiting through Playwright: the page's requests pass its route handler.)
    phone.wait_for_timeout(3000)
    expect(result).to_have_attribute("data-result", "ok")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.USED
    assert CheckIn.objects.filter(ticket=ticket).count() == 1
    phone.get_by_role("button", name="Stop the camera").click()
    expect(phone.locator("[data-camera-video]")).to_be_hidden()
    assert phone.evaluate("window.__csp") == []
