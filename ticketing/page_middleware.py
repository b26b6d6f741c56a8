"""Middleware that only pages need, stepped around for partner API requests.

A request under `/api/v1/` carries a Bearer key, no cookies, and gets JSON back: it
has no session, no signed-in user, no CSRF token, no flash messages, no admin second
factor and no HTML for a Content-Security-Policy to protect. Those middlewares still
cost it CPU on every call (bench/api_profile.py's profile: 0.5 s of 6.8 s for 200
booking POSTs), so settings.MIDDLEWARE lists these wrappers in their place: for pages
they are the wrapped middleware, hooks and all; for the JSON API they pass the
request straight on. The API's own docs page (`/api/docs/`) is HTML and keeps every
header, so it is not under the prefix.

LocaleMiddleware is not wrapped: the API answers in the language the partner asks
for (Accept-Language), and without it a thread would keep the language of the last
page it served.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django_otp.middleware import OTPMiddleware

from ticketing.login import AdminOTPMiddleware

JSON_API_PREFIX = "/api/v1/"

_HOOKS = ("process_view", "process_exception", "process_template_response")


def is_json_api(request) -> bool:
    return request.path_info.startswith(JSON_API_PREFIX)


def _page_only(wrapped: type) -> type:
    """A subclass of `wrapped` (so that Django's and django-axes' checks still find
    it) that is `wrapped` for pages and nothing for the JSON API."""

    class PageOnly(wrapped):
        def __call__(self, request):
            if is_json_api(request):
                return self.get_response(request)
            return super().__call__(request)

    for hook in _HOOKS:
        if hasattr(wrapped, hook):
            setattr(PageOnly, hook, _pages_only_hook(PageOnly, hook))
    PageOnly.__qualname__ = PageOnly.__name__ = f"PageOnly{wrapped.__name__}"
    return PageOnly


def _pages_only_hook(cls: type, hook: str):
    def method(self, request, *args):
        if is_json_api(request):
            return None
        return getattr(super(cls, self), hook)(request, *args)

    return method


PageSessionMiddleware = _page_only(SessionMiddleware)
PageCsrfViewMiddleware = _page_only(CsrfViewMiddleware)
PageAuthenticationMiddleware = _page_only(AuthenticationMiddleware)
PageOTPMiddleware = _page_only(OTPMiddleware)
PageAdminOTPMiddleware = _page_only(AdminOTPMiddleware)
PageMessageMiddleware = _page_only(MessageMiddleware)
PageCSPMiddleware = _page_only(CSPMiddleware)
