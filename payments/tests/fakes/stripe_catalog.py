"""Products and Prices on the fake Stripe (`StripeFake` mixes this in).

`POST /v1/products`, `GET|POST /v1/products/{id}`, `POST /v1/prices`,
`GET|POST /v1/prices/{id}`, each account's own (`Stripe-Account`): an object made
on one account is "No such product" (404) on another. As at Stripe, a Price's
`unit_amount` and `currency` cannot be updated (400 "Received unknown parameter"),
`active` can; a Price needs an existing Product of the same account; metadata
updates merge, an empty value removes a key; a Product `description` of "" clears
it on update and is refused on create.

Tests play Stripe's side with `product_vanish` (a Product deleted in the Dashboard)
and read the state with `products_on(account)` / `prices_on(account)`. Outages:
`fail_next(429, times=n, retry_after=s)` is a rate-limit storm; `latency` (seconds)
delays every answer, for benchmarks.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

_PRODUCT_FIELDS = ("name", "description", "active", "metadata", "images", "url")
_PRICE_UPDATABLE = {
    "active",
    "metadata",
    "nickname",
    "lookup_key",
    "tax_behavior",
    "currency_options",
    "transfer_lookup_key",
    "expand",
}
_DESCRIPTION_MAX = 40000
_NAME_MAX = 5000


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _bool(value: Any, name: str, error) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise error(
        400, f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=name
    )


class CatalogFake:
    """Mixed into StripeFake, which provides `_lock`, `_clock`, `_owners` and the
    error type (`self.error`)."""

    def _init_catalog(self) -> None:
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}

    # Test controls

    def products_on(self, account: str) -> list[dict]:
        with self._lock:
            return [
                copy.deepcopy(p)
                for k, p in self.products.items()
                if self._owners.get(k) == account
            ]

    def prices_on(self, account: str) -> list[dict]:
        with self._lock:
            return [
                copy.deepcopy(p)
                for k, p in self.prices.items()
                if self._owners.get(k) == account
            ]

    def product_vanish(self, product_id: str) -> None:
        """The Product is gone from Stripe (deleted in the Dashboard), its Prices
        with it."""
        with self._lock:
            self.products.pop(product_id)
            for price_id in [
                k for k, p in self.prices.items() if p["product"] == product_id
            ]:
                del self.prices[price_id]

    # HTTP side

    def _execute_catalog(self, operation, route_args, params, account):
        """None when `operation` is not a catalogue one."""
        if operation == "products.create":
            return 200, self._product_create(params, account)
        if operation == "products.retrieve":
            return 200, copy.deepcopy(
                self._catalog_object("product", route_args[0], account)
            )
        if operation == "products.update":
            return 200, self._product_update(route_args[0], params, account)
        if operation == "prices.create":
            return 200, self._price_create(params, account)
        if operation == "prices.retrieve":
            return 200, copy.deepcopy(
                self._catalog_object("price", route_args[0], account)
            )
        if operation == "prices.update":
            return 200, self._price_update(route_args[0], params, account)
        return None

    def _catalog_object(self, name: str, object_id: str, account: str) -> dict:
        store = self.products if name == "product" else self.prices
        if object_id not in store or self._owners.get(object_id) != account:
            raise self.error(
                404,
                f"No such {name}: '{object_id}'",
                code="resource_missing",
                param="id",
            )
        return store[object_id]

    def _product_fields(self, product: dict, params: dict, *, create: bool) -> None:
        unknown = set(params) - {*_PRODUCT_FIELDS, "id", "expand"}
        if unknown:
            name = sorted(unknown)[0]
            raise self.error(
                400,
                f"Received unknown parameter: {name}",
                code="parameter_unknown",
                param=name,
            )
        if "name" in params:
            if not params["name"] or len(params["name"]) > _NAME_MAX:
                raise self.error(
                    400, "Invalid name", code="parameter_invalid_string", param="name"
                )
            product["name"] = params["name"]
        if "description" in params:
            description = params["description"]
            if description == "" and create:
                raise self.error(
                    400,
                    "You passed an empty string for 'description'. We assume "
                    "empty values are an attempt to unset a parameter; however "
                    "'description' cannot be unset.",
                    param="description",
                )
            if len(description) > _DESCRIPTION_MAX:
                raise self.error(
                    400,
                    "Invalid string: description too long",
                    code="parameter_invalid_string",
                    param="description",
                )
            product["description"] = description or None
        if "active" in params:
            product["active"] = _bool(params["active"], "active", self.error)
        _merge_metadata(product, params)
        product["updated"] = next(self._clock)

    def _product_create(self, params: dict, account: str) -> dict:
        if "name" not in params:
            raise self.error(
                400,
                "Missing required param: name.",
                code="parameter_missing",
                param="name",
            )
        product_id = params.get("id") or _id("prod")
        if product_id in self.products:
            raise self.error(
                400,
                f"Product already exists: {product_id}",
                code="resource_already_exists",
                param="id",
            )
        product = {
            "id": product_id,
            "object": "product",
            "active": True,
            "created": next(self._clock),
            "default_price": None,
            "description": None,
            "images": [],
            "livemode": False,
            "metadata": {},
            "name": "",
            "type": "service",
            "url": None,
        }
        self._product_fields(product, params, create=True)
        self.products[product_id] = product
        self._own(product_id, account)
        return copy.deepcopy(product)

    def _product_update(self, product_id: str, params: dict, account: str) -> dict:
        product = self._catalog_object("product", product_id, account)
        self._product_fields(product, params, create=False)
        return copy.deepcopy(product)

    def _price_create(self, params: dict, account: str) -> dict:
        product_id = params.get("product")
        if not product_id:
            raise self.error(
                400,
                "Missing required param: product.",
                code="parameter_missing",
                param="product",
            )
        if product_id not in self.products or self._owners.get(product_id) != account:
            raise self.error(
                400,
                f"No such product: '{product_id}'",
                code="resource_missing",
                param="product",
            )
        if "currency" not in params:
            raise self.error(
                400,
                "Missing required param: currency.",
                code="parameter_missing",
                param="currency",
            )
        try:
            amount = int(params["unit_amount"])
        except (KeyError, ValueError):
            raise self.error(
                400,
                "Invalid integer: unit_amount",
                code="parameter_invalid_integer",
                param="unit_amount",
            ) from None
        if amount < 0:
            raise self.error(
                400,
                "This value must be greater than or equal to 0.",
                code="parameter_invalid_integer",
                param="unit_amount",
            )
        price = {
            "id": _id("price"),
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": next(self._clock),
            "currency": params["currency"].lower(),
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": params.get("nickname"),
            "product": product_id,
            "recurring": None,
            "type": "one_time",
            "unit_amount": amount,
        }
        if "active" in params:
            price["active"] = _bool(params["active"], "active", self.error)
        _merge_metadata(price, params)
        self.prices[price["id"]] = price
        self._own(price["id"], account)
        return copy.deepcopy(price)

    def _price_update(self, price_id: str, params: dict, account: str) -> dict:
        price = self._catalog_object("price", price_id, account)
        unknown = set(params) - _PRICE_UPDATABLE
        if unknown:  # unit_amount and currency above all: Prices are immutable
            name = sorted(unknown)[0]
            raise self.error(
                400,
                f"Received unknown parameter: {name}",
                code="parameter_unknown",
                param=name,
            )
        if "active" in params:
            price["active"] = _bool(params["active"], "active", self.error)
        if "nickname" in params:
            price["nickname"] = params["nickname"] or None
        _merge_metadata(price, params)
        return copy.deepcopy(price)


def _merge_metadata(obj: dict, params: dict) -> None:
    metadata = params.get("metadata")
    if metadata == "":
        obj["metadata"] = {}
        return
    for key, value in (metadata or {}).items():
        if value == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = value
