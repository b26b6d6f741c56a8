"""Stripe Connect on the fake Stripe (`StripeFake` mixes this in).

Connected accounts (`POST /v1/accounts`, `GET /v1/accounts/{id}`), Account Links
(`POST /v1/account_links`, whose `url` is served by the fake: a first visit sends the
browser to `return_url`, a used or expired link to `refresh_url`), destination charges
(`transfer_data[destination]`, `application_fee_amount`, `on_behalf_of` checked and
recorded on the PaymentIntent; paying one makes its Transfer and ApplicationFee),
refunds with `reverse_transfer` / `refund_application_fee` (Transfer Reversals and
fee refunds, in proportion to the amount refunded), and `GET /v1/transfers/{id}`,
`GET /v1/application_fees/{id}`. Requests with `Stripe-Account: acct_…` act as that
account: its objects are its own, invisible to the platform and to other accounts.

Tests play Stripe's side with `add_account`, `set_account`, `complete_onboarding`,
and sign Connect webhooks with `signed_event(..., account=acct_id)`.

Where Stripe's documentation leaves it open (UNVERIFIED): proportional amounts round
down, the refund that completes a charge's refunds takes what is left; an unknown
`Stripe-Account` is answered 403 as below.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

# What Stripe asks a new Express account for before it may take charges.
NEW_ACCOUNT_REQUIREMENTS = (
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
)
LINK_LIFETIME = 300  # seconds


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _is_true(value: Any) -> bool:
    return value in ("true", True)


class ConnectFake:
    """Mixed into StripeFake, which provides `_lock`, `_clock`, `payment_intents`,
    `url` and the error type (`self.error`)."""

    def _init_connect(self, connect_webhook_secret: str) -> None:
        self.connect_webhook_secret = connect_webhook_secret
        self.accounts: dict[str, dict[str, Any]] = {}
        self.account_links: dict[str, dict[str, Any]] = {}  # by token
        self.transfers: dict[str, dict[str, Any]] = {}
        self.application_fees: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, str] = {}  # object id -> account ("" = platform)
        self._connect_of: dict[str, tuple[str | None, str | None]] = {}  # pi -> tr, fee

    # Test controls

    def add_account(self, *, charges_enabled: bool = False, **fields: Any) -> dict:
        """An account already connected to the platform (made elsewhere)."""
        with self._lock:
            account = self._new_account(fields)
            self.accounts[account["id"]] = account
        if charges_enabled:
            return self.complete_onboarding(account["id"])
        return copy.deepcopy(account)

    def set_account(
        self,
        account_id: str,
        *,
        charges_enabled: bool | None = None,
        payouts_enabled: bool | None = None,
        details_submitted: bool | None = None,
        currently_due: list[str] | None = None,
        disabled_reason: str | None = None,
    ) -> dict:
        """Stripe changed the account (its review, the organiser's answers)."""
        with self._lock:
            account = self._account(account_id)
            requirements = account["requirements"]
            if currently_due is not None:
                requirements["currently_due"] = list(currently_due)
                requirements["past_due"] = list(currently_due)
                requirements["eventually_due"] = list(currently_due)
            if disabled_reason is not None:
                requirements["disabled_reason"] = disabled_reason or None
            if details_submitted is not None:
                account["details_submitted"] = details_submitted
            if payouts_enabled is not None:
                account["payouts_enabled"] = payouts_enabled
            if charges_enabled is not None:
                account["charges_enabled"] = charges_enabled
                status = "active" if charges_enabled else "inactive"
                account["capabilities"] = {
                    "card_payments": status,
                    "transfers": status,
                }
            return copy.deepcopy(account)

    def complete_onboarding(self, account_id: str) -> dict:
        """The organiser gave Stripe everything: charges and payouts enabled."""
        return self.set_account(
            account_id,
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            currently_due=[],
            disabled_reason="",
        )

    def connected_account(self, account_id: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._account(account_id))

    def transfer_of(self, pi_id: str) -> dict:
        """The Transfer a paid destination charge made (reversals included)."""
        with self._lock:
            transfer_id, _ = self._connect_of[pi_id]
            return copy.deepcopy(self.transfers[transfer_id])

    def application_fee_of(self, pi_id: str) -> dict:
        with self._lock:
            _, fee_id = self._connect_of[pi_id]
            return copy.deepcopy(self.application_fees[fee_id])

    def visit_link(self, path: str) -> str:
        """The organiser opens an Account Link: where Stripe sends their browser."""
        token = path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            link = self.account_links.get(token)
            if link is None:
                return ""
            fresh = not link["used"] and time.time() < link["expires_at"]
            link["used"] = True
            return link["return_url"] if fresh else link["refresh_url"]

    # HTTP side

    def _acting_account(self, headers: dict[str, str]) -> str:
        """The `Stripe-Account` a request acts as ("" for the platform)."""
        account_id = headers.get("stripe-account", "")
        if account_id and account_id not in self.accounts:
            raise self.error(
                403,
                f"The provided key does not have access to account '{account_id}' "
                "(or that account does not exist). Application access may have been "
                "revoked.",
                code="account_invalid",
            )
        return account_id

    def _own(self, object_id: str, account: str) -> None:
        self._owners[object_id] = account

    def _visible(self, object_id: str, account: str) -> bool:
        return self._owners.get(object_id, "") == account

    def _execute_connect(self, operation, route_args, params, account):
        if operation == "accounts.create":
            if account:
                raise self.error(
                    400, "Connected accounts cannot create connected accounts."
                )
            return 200, self._create_account(params)
        if operation == "accounts.retrieve":
            return 200, copy.deepcopy(self._account(route_args[0]))
        if operation == "account_links.create":
            return 200, self._create_account_link(params)
        if operation == "transfers.retrieve" and not account:
            return 200, copy.deepcopy(
                self._platform_object(self.transfers, "transfer", route_args[0])
            )
        if operation == "application_fees.retrieve" and not account:
            return 200, copy.deepcopy(
                self._platform_object(
                    self.application_fees, "application_fee", route_args[0]
                )
            )
        raise self.error(404, "Unrecognized request URL. The fake does not do this.")

    def _account(self, account_id: str) -> dict[str, Any]:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise self.error(
                403,
                f"The provided key does not have access to account '{account_id}' "
                "(or that account does not exist). Application access may have been "
                "revoked.",
                code="account_invalid",
            ) from None

    def _platform_object(self, store, name, object_id):
        if object_id not in store:
            raise self.error(
                404,
                f"No such {name}: '{object_id}'",
                code="resource_missing",
                param="id",
            )
        return store[object_id]

    def _new_account(self, params: dict[str, Any]) -> dict[str, Any]:
        controller = params.get("controller") or {}
        dashboard = (controller.get("stripe_dashboard") or {}).get("type", "full")
        losses = (controller.get("losses") or {}).get("payments")
        due = list(NEW_ACCOUNT_REQUIREMENTS)
        business_profile = params.get("business_profile") or {}
        requested = params.get("capabilities") or {}
        return {
            "id": _id("acct"),
            "object": "account",
            "business_profile": {
                "name": business_profile.get("name"),
                "mcc": None,
                "url": None,
            },
            "business_type": None,
            "capabilities": {
                name: "inactive"
                for name, value in requested.items()
                if _is_true((value or {}).get("requested"))
            },
            "charges_enabled": False,
            "controller": {
                "fees": {"payer": (controller.get("fees") or {}).get("payer")},
                "is_controller": True,
                "losses": {"payments": losses},
                "requirement_collection": controller.get(
                    "requirement_collection", "stripe"
                ),
                "stripe_dashboard": {"type": dashboard},
                "type": "application",
            },
            "country": str(params.get("country") or "US").upper(),
            "created": next(self._clock),
            "default_currency": params.get("default_currency") or "eur",
            "details_submitted": False,
            "email": params.get("email"),
            "metadata": dict(params.get("metadata") or {}),
            "payouts_enabled": False,
            "requirements": {
                "alternatives": [],
                "current_deadline": None,
                "currently_due": list(due),
                "disabled_reason": "requirements.past_due",
                "errors": [],
                "eventually_due": list(due),
                "past_due": list(due),
                "pending_verification": [],
            },
            "type": params.get("type") or "none",
        }

    def _create_account(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("type") and params.get("controller"):
            raise self.error(
                400,
                "You cannot specify both `type` and `controller`.",
                param="type",
            )
        country = params.get("country")
        if country is not None and len(str(country)) != 2:
            raise self.error(
                400,
                f"Invalid country: {country}.",
                code="parameter_invalid_string",
                param="country",
            )
        account = self._new_account(params)
        self.accounts[account["id"]] = account
        return copy.deepcopy(account)

    def _create_account_link(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("account", "type", "refresh_url", "return_url"):
            if not params.get(name):
                raise self.error(
                    400,
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                )
        if params["type"] not in ("account_onboarding", "account_update"):
            raise self.error(
                400,
                f"Invalid type: {params['type']}.",
                code="parameter_invalid_string",
                param="type",
            )
        account = self._account(params["account"])
        created = next(self._clock)
        token = secrets.token_urlsafe(16)
        link = {
            "object": "account_link",
            "created": created,
            "expires_at": created + LINK_LIFETIME,
            "url": f"{self.url}/setup/e/{account['id']}/{token}",
        }
        self.account_links[token] = {
            **link,
            "account": account["id"],
            "type": params["type"],
            "refresh_url": params["refresh_url"],
            "return_url": params["return_url"],
            "used": False,
        }
        return link

    # Destination charges

    def _destination_fields(
        self, params: dict[str, Any], amount: int, account: str
    ) -> dict[str, Any]:
        """The Connect fields of a new PaymentIntent, checked as Stripe does."""
        transfer_data = params.get("transfer_data") or {}
        destination = transfer_data.get("destination")
        on_behalf_of = params.get("on_behalf_of")
        fee = params.get("application_fee_amount")
        for name, value in (
            ("transfer_data[destination]", destination),
            ("on_behalf_of", on_behalf_of),
        ):
            if value and value not in self.accounts:
                raise self.error(
                    400,
                    f"No such destination: '{value}'",
                    code="resource_missing",
                    param=name,
                )
        if destination:
            capabilities = self.accounts[destination]["capabilities"]
            if capabilities.get("transfers") != "active":
                raise self.error(
                    400,
                    "Your destination account needs to have at least one of the "
                    "following capabilities enabled: transfers, crypto_transfers, "
                    "legacy_payments",
                    code="insufficient_capabilities_for_transfer",
                    param="transfer_data[destination]",
                )
        if on_behalf_of and destination and on_behalf_of != destination:
            raise self.error(
                400,
                "The `on_behalf_of` parameter must be the same as "
                "`transfer_data[destination]`.",
                param="on_behalf_of",
            )
        fee_amount = self._fee_amount(fee, amount, destination or account)
        return {
            "application_fee_amount": fee_amount,
            "on_behalf_of": on_behalf_of or None,
            "transfer_data": (
                {
                    "destination": destination,
                    **(
                        {"amount": int(transfer_data["amount"])}
                        if "amount" in transfer_data
                        else {}
                    ),
                }
                if destination
                else None
            ),
            "transfer_group": params.get("transfer_group"),
        }

    def _fee_amount(self, fee: Any, amount: int, payee: str | None) -> int | None:
        if fee is None or fee == "":
            return None
        try:
            value = int(fee)
        except (TypeError, ValueError):
            value = -1
        if value < 0:
            raise self.error(
                400,
                "Invalid non-negative integer: application_fee_amount",
                code="parameter_invalid_integer",
                param="application_fee_amount",
            )
        if not payee:
            raise self.error(
                400,
                "Can only apply an application_fee_amount when the PaymentIntent is "
                "attempting a direct payment (using an OAuth key or Stripe-Account "
                "header) or destination payment (using `transfer_data[destination]`).",
                param="application_fee_amount",
            )
        if value > amount:
            raise self.error(
                400,
                "The application fee cannot be greater than the amount.",
                param="application_fee_amount",
            )
        return value

    def _update_fee(self, intent: dict[str, Any], params: dict[str, Any]) -> None:
        if "application_fee_amount" in params:
            payee = (intent.get("transfer_data") or {}).get("destination") or (
                self._owners.get(intent["id"]) or None
            )
            intent["application_fee_amount"] = self._fee_amount(
                params["application_fee_amount"], intent["amount"], payee
            )

    def _pay_destination(self, intent: dict[str, Any]) -> None:
        """A destination charge succeeded: the whole amount (or
        `transfer_data[amount]`) goes to the account, the fee comes back."""
        transfer_data = intent.get("transfer_data")
        if not transfer_data or intent["id"] in self._connect_of:
            return
        charge_id = intent["latest_charge"]
        created = next(self._clock)
        transfer = {
            "id": _id("tr"),
            "object": "transfer",
            "amount": transfer_data.get("amount", intent["amount_received"]),
            "amount_reversed": 0,
            "created": created,
            "currency": intent["currency"],
            "destination": transfer_data["destination"],
            "destination_payment": _id("py"),
            "livemode": False,
            "metadata": {},
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": "",
            },
            "reversed": False,
            "source_transaction": charge_id,
            "transfer_group": intent.get("transfer_group") or f"group_{intent['id']}",
        }
        transfer["reversals"]["url"] = f"/v1/transfers/{transfer['id']}/reversals"
        self.transfers[transfer["id"]] = transfer
        fee_id = None
        if intent.get("application_fee_amount"):
            fee = {
                "id": _id("fee"),
                "object": "application_fee",
                "account": transfer_data["destination"],
                "amount": intent["application_fee_amount"],
                "amount_refunded": 0,
                "charge": charge_id,
                "created": created,
                "currency": intent["currency"],
                "livemode": False,
                "originating_transaction": charge_id,
                "refunded": False,
                "refunds": {"object": "list", "data": [], "has_more": False, "url": ""},
            }
            fee["refunds"]["url"] = f"/v1/application_fees/{fee['id']}/refunds"
            self.application_fees[fee["id"]] = fee
            fee_id = fee["id"]
        self._connect_of[intent["id"]] = (transfer["id"], fee_id)

    def _charge_connect_fields(self, intent: dict[str, Any]) -> dict[str, Any]:
        transfer_id, fee_id = self._connect_of.get(intent["id"], (None, None))
        transfer_data = intent.get("transfer_data")
        return {
            "application_fee": fee_id,
            "application_fee_amount": intent.get("application_fee_amount"),
            "on_behalf_of": intent.get("on_behalf_of"),
            "transfer": transfer_id,
            "transfer_data": copy.deepcopy(transfer_data),
            "destination": (transfer_data or {}).get("destination"),
        }

    def _refund_destination(
        self, intent: dict[str, Any], amount: int, params: dict[str, Any], refund_id
    ) -> dict[str, Any]:
        """Reverse the transfer and refund the fee of a destination charge, in
        proportion to `amount` (the refund's), as the refund's params ask."""
        reverse = _is_true(params.get("reverse_transfer"))
        refund_fee = _is_true(params.get("refund_application_fee"))
        transfer_id, fee_id = self._connect_of.get(intent["id"], (None, None))
        if reverse and transfer_id is None:
            raise self.error(
                400,
                "This charge has no transfer to reverse.",
                param="reverse_transfer",
            )
        # What is left to refund after this one (the caller has not counted it yet).
        last = intent["amount_refunded"] + amount >= intent["amount_received"]
        fields: dict[str, Any] = {"transfer_reversal": None}
        if reverse:
            transfer = self.transfers[transfer_id]
            share = self._share(
                transfer["amount"], transfer["amount_reversed"], amount, intent, last
            )
            reversal = {
                "id": _id("trr"),
                "object": "transfer_reversal",
                "amount": share,
                "created": next(self._clock),
                "currency": transfer["currency"],
                "destination_payment_refund": _id("pyr"),
                "metadata": {},
                "source_refund": refund_id,
                "transfer": transfer_id,
            }
            transfer["reversals"]["data"].insert(0, reversal)
            transfer["amount_reversed"] += share
            transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
            fields["transfer_reversal"] = reversal["id"]
        if refund_fee and fee_id is not None:
            fee = self.application_fees[fee_id]
            share = self._share(
                fee["amount"], fee["amount_refunded"], amount, intent, last
            )
            fee["refunds"]["data"].insert(
                0,
                {
                    "id": _id("fr"),
                    "object": "fee_refund",
                    "amount": share,
                    "created": next(self._clock),
                    "currency": fee["currency"],
                    "fee": fee_id,
                    "metadata": {},
                },
            )
            fee["amount_refunded"] += share
            fee["refunded"] = fee["amount_refunded"] >= fee["amount"]
        return fields

    @staticmethod
    def _share(total: int, done: int, amount: int, intent, last: bool) -> int:
        if last:
            return total - done
        return min(total - done, total * amount // intent["amount_received"])
