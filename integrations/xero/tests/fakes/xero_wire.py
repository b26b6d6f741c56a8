"""What the Xero fake's parts share: the app's credentials, the tenant's tax rates
and accounts, and Xero's wire formats (dates, amounts, validation errors)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any

from integrations.tests.fakes.base import Reply

CLIENT_ID = "XEROFAKECLIENTID0000000000000000"
CLIENT_SECRET = "xero-fake-client-secret"
WEBHOOK_KEY = "xero-fake-webhook-key"

ACCESS_SECONDS = 1800
MINUTE_LIMIT = 60
DAY_LIMIT = 5000
CONCURRENT_LIMIT = 5

TAX_RATES = [
    {"Name": "GST on Income", "TaxType": "OUTPUT", "EffectiveRate": 10.0},
    {"Name": "GST Free Income", "TaxType": "EXEMPTOUTPUT", "EffectiveRate": 0.0},
    {"Name": "Reduced rate", "TaxType": "TAX002", "EffectiveRate": 5.0},
    {"Name": "GST on Expenses", "TaxType": "INPUT", "EffectiveRate": 10.0},
    {"Name": "BAS Excluded", "TaxType": "BASEXCLUDED", "EffectiveRate": 0.0},
    {"Name": "No tax", "TaxType": "NONE", "EffectiveRate": 0.0},
]
ACCOUNTS = [
    {
        "AccountID": str(uuid.uuid5(uuid.NAMESPACE_URL, code)),
        "Code": code,
        "Name": name,
        "Type": kind,
        "Status": "ACTIVE",
    }
    for code, name, kind in [
        ("090", "Business Bank Account", "BANK"),
        ("200", "Sales", "REVENUE"),
        ("260", "Other Revenue", "REVENUE"),
        ("310", "Cost of Goods Sold", "DIRECTCOSTS"),
        ("400", "Advertising", "EXPENSE"),
    ]
]

API_PATH = re.compile(
    r"^/api\.xro/2\.0/(?P<resource>\w+)(?:/(?P<id>[\w-]+))?(?:/(?P<sub>\w+))?$"
)
CREATES = {"PUT", "POST"}


def xero_date(moment: dt.datetime) -> str:
    """Xero's JSON date: `/Date(<ms since epoch>+0000)/`."""
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def validation_error(messages: list[str], element: dict | None = None) -> Reply:
    return Reply(
        400,
        jsonable(
            {
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [
                    {
                        **(element or {}),
                        "ValidationErrors": [{"Message": m} for m in messages],
                    }
                ],
            }
        ),
    )


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)  # Xero sends JSON numbers
    return value
