"""`POST /webhooks/xero/`: Xero's signed events (and its "intent to receive" check,
which this answers the same way: 200 if the signature verifies, 401 if not)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ticketing.inbound import body_size_limited

from .services.pull import webhook_receive
from .tasks import webhook_event_process_task


@csrf_exempt
@require_POST
@body_size_limited
def xero_webhook(request: HttpRequest) -> HttpResponse:
    status, event_ids = webhook_receive(
        body=request.body, signature=request.headers.get("x-xero-signature", "")
    )
    for event_id in event_ids:
        transaction.on_commit(
            lambda event_id=event_id: webhook_event_process_task.delay(event_id)
        )
    # Xero wants an empty body, within 5 s: the events are processed after this.
    return HttpResponse(status=status)
