"""Input that no view should ever see, refused before any view (or session) runs.

- A path with a control character cannot name anything here: 404.
- A query string with a control character (percent-encoded or not): 400.
- A webhook body (paths below `WEBHOOK_PREFIXES`, but for platform webhooks, which
  keep refused bodies themselves) holding NUL (raw, `%00` in a form,
  or `\\u0000` in JSON), JSON nested too deep, a lone surrogate, or a body declared
  JSON that is not: 400. These views store what they receive (raw body, jsonb),
  which PostgreSQL would refuse with a 500 after the provider's signature was checked.

Under `/api/` the answers have the API's error shape; elsewhere the 400 and 404 pages.
Form fields are cleaned by the forms themselves (a message next to the field), and API
bodies by `partner_api.parsers.SafeJSONParser`.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.core.exceptions import BadRequest, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from ticketing.lib.hostile import (
    CONTROL_CHARACTERS,
    control_bytes,
    json_loads_safely,
    json_problem,
)

API_PREFIX = "/api/"
WEBHOOK_PREFIXES = ("/webhooks/", "/anymail/")
# These store a refused body themselves, NUL replaced, for the organiser to see why
# a delivery was refused (integrations.services.webhooks); they need no guard.
UNGUARDED_WEBHOOK_PREFIXES = ("/webhooks/eventbrite/", "/webhooks/humanitix/")


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": {}}}, status=status
    )


def webhook_body_problem(request: HttpRequest) -> str | None:
    """Why a webhook body cannot be stored, or None."""
    try:
        body = request.body
    except RequestDataTooBig:
        return "The request body is too large."
    if not body:
        return None
    if b"\x00" in body:
        return "The request body contains NUL bytes."
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        if b"\x00" in unquote_to_bytes(body.replace(b"+", b" ")):
            return "The request body contains NUL characters."
        return None
    looks_like_json = body.lstrip()[:1] in (b"{", b"[")
    if "json" not in content_type and not looks_like_json:
        return None
    try:
        payload = json_loads_safely(body)
    except ValueError as error:
        if "json" in content_type or "nested" in str(error):
            return "The request body is not valid JSON."
        return None
    if problem := json_problem(payload):
        return f"The request body {problem}."
    return None


class HostileInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        is_api = path.startswith(API_PREFIX)
        if CONTROL_CHARACTERS.search(path):
            if is_api:
                return _api_error(404, "not_found", "Not found.")
            return defaults.page_not_found(request, Http404())
        query = request.META.get("QUERY_STRING", "")
        if query and control_bytes(unquote_to_bytes(query.replace("+", " "))):
            message = "The query string contains control characters."
            if is_api:
                return _api_error(400, "bad_request", message)
            return defaults.bad_request(request, BadRequest(message))
        if (
            request.method == "POST"
            and path.startswith(WEBHOOK_PREFIXES)
            and not path.startswith(UNGUARDED_WEBHOOK_PREFIXES)
        ):
            if problem := webhook_body_problem(request):
                return HttpResponse(problem, status=400, content_type="text/plain")
        return self.get_response(request)
