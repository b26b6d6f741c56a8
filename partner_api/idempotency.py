"""`Idempotency-Key` for the partner API's creating POSTs (CONVENTIONS §7).

One row per (API key, Idempotency-Key), inserted and committed *before* the view runs
(the unique constraint decides which of two simultaneous requests runs), then filled
with the response:

- same key, same method, path and body within REPLAY_WINDOW: the stored response
  again, same status and body, with `Idempotent-Replayed: true`;
- same key, anything else different: 409 `idempotency_conflict`;
- same key while the first request still runs: 409 `idempotency_in_progress` with
  `Retry-After: 1`; a row left in progress longer than ABANDONED_AFTER (a crashed
  worker) is taken over by the next request;
- 2xx and 4xx responses are stored; a 5xx (503 `busy` included) or an unexpected
  exception deletes the row, so a retry runs again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from partner_api.errors import ApiError

from .models import ApiIdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_WINDOW = dt.timedelta(hours=24)
ABANDONED_AFTER = dt.timedelta(minutes=2)
_KEY_FORMAT = re.compile(r"^[\x21-\x7e]{1,128}$")  # visible ASCII, no spaces

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "pattern": _KEY_FORMAT.pattern, "maxLength": 128},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1 to 128 visible ASCII characters, unique per request (a UUID). The same key "
        "and body within 24 h return the first response again; another body is 409 "
        "`idempotency_conflict`; while the first request runs, 409 "
        "`idempotency_in_progress` with Retry-After."
    ),
)


def request_fingerprint(request) -> str:
    """SHA-256 of method, path and the body as canonical JSON (sorted keys), so key
    order and whitespace don't matter but any value does."""
    canonical = json.dumps(
        [request.method, request.path, request.data],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim(api_key_id: int, key: str, fingerprint: str):
    """The new in-progress row we now own, or the existing row to answer from."""
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                return True, ApiIdempotencyRecord.objects.create(
                    api_key_id=api_key_id,
                    key=key,
                    request_hash=fingerprint,
                    created_at=now,
                    started_at=now,
                )
        except IntegrityError:
            pass
        existing = ApiIdempotencyRecord.objects.filter(
            api_key_id=api_key_id, key=key
        ).first()
        if existing is None:
            continue  # deleted after a 5xx in between: try the insert again
        if existing.created_at <= now - REPLAY_WINDOW:
            # Expired: the key is free again. The conditional delete lets only one
            # of two racing requests remove it; both then race on the insert.
            ApiIdempotencyRecord.objects.filter(
                pk=existing.pk, created_at=existing.created_at
            ).delete()
            continue
        if existing.request_hash != fingerprint or existing.is_complete:
            return False, existing
        if existing.started_at <= now - ABANDONED_AFTER:
            taken = ApiIdempotencyRecord.objects.filter(
                pk=existing.pk,
                response_status__isnull=True,
                started_at=existing.started_at,
            ).update(started_at=now)
            if taken:
                existing.started_at = now
                return True, existing
        return False, existing
    raise ApiError(
        code="idempotency_in_progress",
        message="A request with this Idempotency-Key is being processed.",
        status_code=409,
        retry_after=1,
    )


def _answer_from(record: ApiIdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        raise ApiError(
            code="idempotency_conflict",
            message="This Idempotency-Key was already used with another request.",
            status_code=409,
            fields={HEADER: ["Already used with another request body or path."]},
        )
    if not record.is_complete:
        raise ApiError(
            code="idempotency_in_progress",
            message="A request with this Idempotency-Key is being processed.",
            status_code=409,
            retry_after=1,
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _store(record: ApiIdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        ApiIdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    body = json.loads(JSONRenderer().render(response.data) or b"null")
    ApiIdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=response.status_code,
        response_body=body,
        completed_at=timezone.now(),
    )


def idempotent(view_method):
    """Decorate an APIView's `post`: the request's `Idempotency-Key` (optional) makes
    it safe to retry. The view may read `request.idempotency_record` (None without a
    key) to pass a key to its service or to tell an old key's leftovers apart."""

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        request.idempotency_record = None
        if key is None:
            return view_method(view, request, *args, **kwargs)
        if not _KEY_FORMAT.match(key):
            raise ApiError(
                code="validation_error",
                message="Please correct the errors.",
                fields={HEADER: ["Use 1 to 128 visible ASCII characters."]},
            )
        fingerprint = request_fingerprint(request)
        owned, record = _claim(request.user.key.pk, key, fingerprint)
        if not owned:
            return _answer_from(record, fingerprint)
        request.idempotency_record = record
        try:
            try:
                response = view_method(view, request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - rendered as the API would
                response = view.handle_exception(exc)
        except BaseException:
            ApiIdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        _store(record, response)
        return response

    return wrapper


def idempotency_records_purge(*, now: dt.datetime | None = None) -> int:
    """Delete rows past the replay window; for a periodic task. Returns how many."""
    limit = (now or timezone.now()) - REPLAY_WINDOW
    deleted, _by_model = ApiIdempotencyRecord.objects.filter(
        created_at__lte=limit
    ).delete()
    return deleted
