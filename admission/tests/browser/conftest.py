# The shop's browser harness (Chromium from the system, pages with only the live
# server reachable, screenshots): the same fixtures here.
from bookings.tests.browser.conftest import (  # noqa: F401
    _checkout_limits_out_of_the_way,
    browser,
    new_page,
    page,
    phone,
    shoot,
)
