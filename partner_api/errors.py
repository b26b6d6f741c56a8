"""One error shape for every API error, DRF's own included (see specs/api.md):

{"error": {"code": "<snake_case>", "message": "<human text>", "fields": {...}}}
"""

from __future__ import annotations

import logging

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """A domain error carried to the API with its code, message, status and fields."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        status_code: int = 400,
        fields: dict | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}
        self.retry_after = retry_after


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as {"lines.0.quantity": ["..."]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out.update(
                _flatten(
                    value, f"{prefix}.{name}" if prefix and name else prefix or name
                )
            )
        return out
    if (
        isinstance(detail, list)
        and detail
        and not all(isinstance(item, str) for item in detail)
    ):
        out = {}
        for index, item in enumerate(detail):
            out.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
}


def api_exception_handler(exc, context):
    if isinstance(exc, SuspiciousOperation):
        # Django answers these with its HTML 400 page; partners get the API's shape,
        # and the security logger still hears of them, as Django would have it.
        logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)
        too_big = isinstance(exc, RequestDataTooBig)
        return error_response(
            code="request_too_large" if too_big else "bad_request",
            message=("The request body is too large." if too_big else "Bad request."),
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: a 500 for Sentry, never a body with internals
    if isinstance(exc, ApiError):
        body = {
            "code": exc.error_code,
            "message": str(exc.detail),
            "fields": exc.fields,
        }
        if exc.retry_after:
            response["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, exceptions.ValidationError):
        body = {
            "code": "validation_error",
            "message": "Please correct the errors.",
            "fields": _flatten(exc.detail),
        }
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        code = next(
            (value for kind, value in _CODES.items() if isinstance(exc, kind)), "error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = {"code": code, "message": detail, "fields": {}}
    response.data = {"error": body}
    return response


def error_response(
    *, code: str, message: str, status_code: int, fields: dict | None = None
) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "fields": fields or {}}},
        status=status_code,
    )
