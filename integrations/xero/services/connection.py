"""Connecting an organiser to Xero: consent (OAuth 2 code + PKCE), the tenant, fresh
tokens, the mapping choices, disconnecting.

The flow: `connect_start` saves a `state` and a PKCE verifier and returns Xero's
consent URL; Xero redirects to our callback with a code and the state;
`connect_finish` checks the state, exchanges the code (with the verifier) for tokens,
and reads `/connections`. One organisation granted: it is chosen; several: the
organiser picks one (`tenant_choose`). Then the tenant's tax types and accounts are
read for the mapping form.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Organiser
from ticketing.audit import audit_log
from ticketing.lib.http import ExternalAuthError, ExternalError

from .. import client
from ..exceptions import XeroConnectError
from ..models import XeroConnection

logger = logging.getLogger(__name__)

Status = XeroConnection.Status
# Refresh this long before the access token expires (it lives 30 minutes), so a
# call never starts with a token about to die.
REFRESH_MARGIN = dt.timedelta(minutes=5)


def connection_for(organiser: Organiser) -> XeroConnection:
    connection, _created = XeroConnection.objects.get_or_create(organiser=organiser)
    return connection


@transaction.atomic
def connect_start(*, organiser: Organiser, redirect_uri: str, actor=None) -> str:
    """Remember a fresh state and PKCE verifier; return Xero's consent URL."""
    connection = connection_for(organiser)
    verifier, challenge = client.pkce_pair()
    connection.oauth_state = secrets.token_urlsafe(32)
    connection.set_code_verifier(verifier)
    connection.save(
        update_fields=["oauth_state", "code_verifier_encrypted", "updated_at"]
    )
    audit_log(
        action="xero.connection.consent_started",
        obj=connection,
        organiser_id=organiser.pk,
        actor=actor,
        data={},
    )
    return client.authorize_url(
        state=connection.oauth_state, challenge=challenge, redirect_uri=redirect_uri
    )


def connect_finish(
    *, state: str, code: str, redirect_uri: str, actor=None
) -> XeroConnection:
    """The callback. Raises XeroConnectError (a message for the organiser) on a
    state we did not issue, a refused code or an unreachable Xero."""
    connection = (
        XeroConnection.objects.filter(oauth_state=state).first()
        if state and len(state) >= 32
        else None
    )
    if connection is None or not code:
        raise XeroConnectError(_("This Xero consent was not started here, or expired."))
    verifier = connection.code_verifier
    # The state is single use, whatever happens next.
    XeroConnection.objects.filter(pk=connection.pk).update(
        oauth_state="", code_verifier_encrypted=""
    )
    try:
        tokens = client.code_exchange(
            code=code, verifier=verifier, redirect_uri=redirect_uri
        )
        tenants = client.connections(tokens.access)
    except ExternalError as error:
        logger.warning("Xero consent of connection %s failed: %s", connection.pk, error)
        raise XeroConnectError(
            _("Xero did not accept the connection: %(error)s") % {"error": error}
        ) from error
    with transaction.atomic():
        connection = XeroConnection.objects.select_for_update().get(pk=connection.pk)
        connection.set_tokens(
            access=tokens.access,
            refresh=tokens.refresh,
            expires_at=timezone.now() + dt.timedelta(seconds=tokens.expires_in),
        )
        connection.tenants_offered = [
            {"tenant_id": t.tenant_id, "name": t.name} for t in tenants
        ]
        connection.status = Status.CHOOSING
        connection.last_error = ""
        connection.save()
        audit_log(
            action="xero.connection.authorised",
            obj=connection,
            organiser_id=connection.organiser_id,
            actor=actor,
            data={"tenants": len(tenants)},
        )
    if len(tenants) == 1:
        return tenant_choose(
            connection_id=connection.pk, tenant_id=tenants[0].tenant_id, actor=actor
        )
    return connection


def tenant_choose(*, connection_id: int, tenant_id: str, actor=None) -> XeroConnection:
    """Use one of the organisations granted; reads its tax types and accounts."""
    with transaction.atomic():
        connection = XeroConnection.objects.select_for_update().get(pk=connection_id)
        offered = {t["tenant_id"]: t["name"] for t in connection.tenants_offered}
        if tenant_id not in offered:
            raise XeroConnectError(_("Choose one of the organisations you granted."))
        connection.tenant_id = tenant_id
        connection.tenant_name = offered[tenant_id]
        connection.status = Status.ACTIVE
        connection.connected_at = timezone.now()
        connection.save()
        audit_log(
            action="xero.connection.connected",
            obj=connection,
            organiser_id=connection.organiser_id,
            actor=actor,
            data={"tenant": connection.tenant_name},
        )
    return choices_refresh(connection_id=connection.pk)


def choices_refresh(*, connection_id: int) -> XeroConnection:
    """Read the tenant's tax types and accounts (the mapping form's choices)."""
    api = api_for(XeroConnection.objects.get(pk=connection_id))
    try:
        tax_types, accounts = api.tax_rates(), api.accounts()
    except ExternalError as error:
        raise XeroConnectError(
            _("Could not read Xero's tax rates and accounts: %(error)s")
            % {"error": error}
        ) from error
    XeroConnection.objects.filter(pk=connection_id).update(
        tax_types=tax_types, accounts=accounts
    )
    return XeroConnection.objects.get(pk=connection_id)


def connection_broken(connection: XeroConnection, error: Exception) -> None:
    """Xero refused our access: the organiser must reconnect (an alert says so)."""
    from ticketing.alerts import alert_raise
    from ticketing.models import Alert

    with transaction.atomic():
        XeroConnection.objects.filter(pk=connection.pk).update(
            status=Status.BROKEN, last_error=str(error)[:500]
        )
        alert_raise(
            kind=Alert.Kind.XERO_CONNECTION_BROKEN,
            organiser=connection.organiser_id,
            subject=f"xero:{connection.pk}",
            message=_("Xero refused our access: reconnect Xero in the admin (%(e)s).")
            % {"e": error},
            link=reverse("admin:xero_xeroconnection_change", args=[connection.pk]),
        )


def access_token_fresh(connection: XeroConnection) -> str:
    """An access token valid for a few minutes more, refreshing it if needed.

    The refresh takes the connection's row lock and calls Xero while holding it, on
    purpose: Xero rotates the refresh token, so two workers refreshing at once
    would leave one of them with a dead token and the connection broken."""
    soon = timezone.now() + REFRESH_MARGIN
    if connection.access_expires_at and connection.access_expires_at > soon:
        return connection.access_token
    try:
        return _refresh_locked(connection, soon)
    except ExternalAuthError as error:
        connection_broken(connection, error)
        raise


def _refresh_locked(connection: XeroConnection, soon: dt.datetime) -> str:
    with transaction.atomic():
        locked = XeroConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.access_expires_at and locked.access_expires_at > soon:
            return locked.access_token  # another worker refreshed it meanwhile
        tokens = client.token_refresh(locked.refresh_token)
        locked.set_tokens(
            access=tokens.access,
            refresh=tokens.refresh,
            expires_at=timezone.now() + dt.timedelta(seconds=tokens.expires_in),
        )
        locked.save(
            update_fields=[
                "access_token_encrypted",
                "refresh_token_encrypted",
                "access_expires_at",
                "updated_at",
            ]
        )
    connection.access_token_encrypted = locked.access_token_encrypted
    connection.access_expires_at = locked.access_expires_at
    return locked.access_token


def api_for(connection: XeroConnection) -> client.XeroApi:
    return client.XeroApi(
        access_token=access_token_fresh(connection), tenant_id=connection.tenant_id
    )


def disconnect(*, connection_id: int, actor=None) -> XeroConnection:
    """Revoke our tokens at Xero and forget them. A revocation that fails is
    logged: the tokens are forgotten here either way, and they expire at Xero."""
    connection = XeroConnection.objects.get(pk=connection_id)
    refresh = connection.refresh_token
    if refresh:
        try:
            client.token_revoke(refresh)
        except ExternalError:
            logger.warning("Xero revocation for connection %s failed", connection_id)
    with transaction.atomic():
        connection = XeroConnection.objects.select_for_update().get(pk=connection_id)
        connection.access_token_encrypted = ""
        connection.refresh_token_encrypted = ""
        connection.access_expires_at = None
        connection.status = Status.DISCONNECTED
        connection.save()
        audit_log(
            action="xero.connection.disconnected",
            obj=connection,
            organiser_id=connection.organiser_id,
            actor=actor,
            data={"tenant": connection.tenant_name},
        )
    return connection
