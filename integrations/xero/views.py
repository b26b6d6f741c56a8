"""`POST /webhooks/xero/`: Xero's signed events (and its "intent to receive" check,
which this answers the same way: 200 if the signature verifies, 401 if not)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ticketing.inbound import body_size_limited
from ticketing.sweep import enqueue_on_commit

from .services.pull import webhook_receive
from .tasks import webhook_event_process_task


@csrf_exempt
@require_POST
@body_size_limited
def xero_webhook(request: HttpRequest) -> HttpResponse:
    status, event_ids = webhook_receive(
        body=request.body, signature=request.headers.get("x-xero-signature", "")
    )
    # A broker that cannot be reached is logged, never a 500: the events are stored,
    # and Xero's retry or the beat sweep (`reconcile_all_task`) processes them.
    for event_id in event_ids:
        enqueue_on_commit(webhook_event_process_task, event_id)
    # Xero wants an empty body, within 5 s: the events are processed after this.
    return HttpResponse(status=status)
