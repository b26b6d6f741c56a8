"""The Xero fake's books: contacts, invoices, credit notes and their allocations,
payments."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal
from typing import Any

from integrations.tests.fakes.base import Reply, Request

from .xero_wire import ACCOUNTS, TAX_RATES, jsonable, money, validation_error, xero_date


class BooksMixin:
    def _body(self, request: Request) -> Any:
        return json.loads(request.body, parse_float=Decimal) if request.body else {}

    def _today(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).date().isoformat()

    def _touch(self, document: dict) -> None:
        document["UpdatedDateUTC"] = xero_date(
            dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        )
        document["_updated"] = self.clock()

    @staticmethod
    def _public(document: dict) -> dict:
        return jsonable({k: v for k, v in document.items() if not k.startswith("_")})

    def _contacts(self, request: Request) -> Reply:
        if request.method == "GET":
            where = request.query.get("where", "")
            match = re.fullmatch(r'ContactNumber=="(.*)"', where)
            found = [
                c
                for c in self.contacts.values()
                if match and c.get("ContactNumber") == match.group(1)
            ]
            return Reply(200, {"Contacts": [self._public(c) for c in found]})
        created = []
        for item in self._body(request).get("Contacts", []):
            name = (item.get("Name") or "").strip()
            if not name:
                return validation_error(["The contact name must be specified."], item)
            if any(
                c["Name"] == name
                and c.get("ContactNumber") != item.get("ContactNumber")
                for c in self.contacts.values()
            ):
                return validation_error(
                    [
                        f"The contact name {name} is already assigned to another "
                        "contact. "
                        "The contact name must be unique across all active contacts."
                    ],
                    item,
                )
            contact = {
                **item,
                "ContactID": str(uuid.uuid4()),
                "ContactStatus": "ACTIVE",
            }
            self._touch(contact)
            self.contacts[contact["ContactID"]] = contact
            created.append(self._public(contact))
        return Reply(200, {"Contacts": created})

    def _invoices_get(self, request: Request, id: str | None) -> Reply:
        if id:
            invoice = self.invoices.get(id)
            if invoice is None:
                return Reply(404, {"Title": "Not Found", "Status": 404})
            return Reply(200, {"Invoices": [self._public(invoice)]})
        since = request.headers.get("if-modified-since")
        found = list(self.invoices.values())
        if since:
            moment = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
            found = [i for i in found if i["_updated"] >= moment.timestamp()]
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("pageSize", "100"))
        found = found[(page - 1) * size : page * size]
        return Reply(200, {"Invoices": [self._public(i) for i in found]})

    def _lines(self, item: dict) -> tuple[list[dict], list[str]]:
        errors, lines = [], []
        codes = {a["Code"] for a in ACCOUNTS}
        types = {t["TaxType"] for t in TAX_RATES}
        for line in item.get("LineItems", []):
            if line.get("AccountCode") not in codes:
                errors.append(
                    f"Account code '{line.get('AccountCode')}' is not a valid code"
                    " for this document."
                )
            if line.get("TaxType") and line["TaxType"] not in types:
                errors.append(
                    f"The TaxType code '{line['TaxType']}' does not exist or "
                    "cannot be used for this type of transaction."
                )
            quantity, unit = (
                money(line.get("Quantity", 1)),
                money(line.get("UnitAmount", 0)),
            )
            amount = (quantity * unit).quantize(Decimal("0.01"))
            tax = money(line.get("TaxAmount", 0))
            lines.append({**line, "LineAmount": amount, "TaxAmount": tax})
        return lines, errors

    def _totals(self, document: dict) -> None:
        lines = document["LineItems"]
        tax = sum((line["TaxAmount"] for line in lines), Decimal("0.00"))
        amounts = sum((line["LineAmount"] for line in lines), Decimal("0.00"))
        if document.get("LineAmountTypes") == "Inclusive":
            subtotal, total = amounts - tax, amounts
        elif document.get("LineAmountTypes") == "NoTax":
            subtotal, tax, total = amounts, Decimal("0.00"), amounts
        else:
            subtotal, total = amounts, amounts + tax
        document.update(SubTotal=subtotal, TotalTax=tax, Total=total)

    def _document(
        self, item: dict, kinds: set[str]
    ) -> tuple[dict | None, Reply | None]:
        errors = []
        if item.get("Type") not in kinds:
            errors.append(f"Type must be one of {sorted(kinds)}.")
        contact = self.contacts.get((item.get("Contact") or {}).get("ContactID", ""))
        if contact is None:
            errors.append("A Contact must be specified with this type of transaction.")
        lines, line_errors = self._lines(item)
        errors += line_errors
        if errors:
            return None, validation_error(errors, item)
        document = {
            **item,
            "LineItems": lines,
            "Contact": {"ContactID": contact["ContactID"], "Name": contact["Name"]},
        }
        self._totals(document)
        return document, None

    def _invoice_write(self, request: Request, id: str | None) -> Reply:
        results = []
        for item in self._body(request).get("Invoices", []):
            existing = self.invoices.get(item.get("InvoiceID") or id or "")
            if existing is not None:
                if item.get("Status") == "VOIDED":
                    if existing["AmountPaid"] > 0:
                        return validation_error(
                            ["Invoice not of valid status for modification"], item
                        )
                    existing.update(Status="VOIDED", AmountDue=Decimal("0.00"))
                    self._touch(existing)
                results.append(self._public(existing))
                continue
            document, error = self._document(item, {"ACCREC", "ACCPAY"})
            if error:
                return error
            document.update(
                InvoiceID=str(uuid.uuid4()),
                InvoiceNumber=item.get("InvoiceNumber")
                or f"INV-{next(self._numbers):04d}",
                Status=item.get("Status", "DRAFT"),
                AmountPaid=Decimal("0.00"),
                AmountCredited=Decimal("0.00"),
                Payments=[],
                CreditNotes=[],
                HasErrors=False,
            )
            document["AmountDue"] = document["Total"]
            self._touch(document)
            self.invoices[document["InvoiceID"]] = document
            results.append(self._public(document))
        return Reply(200, {"Invoices": results})

    def _credit_note_write(self, request: Request) -> Reply:
        results = []
        for item in self._body(request).get("CreditNotes", []):
            document, error = self._document(item, {"ACCRECCREDIT", "ACCPAYCREDIT"})
            if error:
                return error
            document.update(
                CreditNoteID=str(uuid.uuid4()),
                CreditNoteNumber=item.get("CreditNoteNumber") or "",
                Status=item.get("Status", "DRAFT"),
                Allocations=[],
                Payments=[],
                HasErrors=False,
            )
            document["RemainingCredit"] = document["Total"]
            self._touch(document)
            self.credit_notes[document["CreditNoteID"]] = document
            results.append(self._public(document))
        return Reply(200, {"CreditNotes": results})

    def _allocate(self, request: Request, id: str | None) -> Reply:
        note = self.credit_notes.get(id or "")
        if note is None:
            return Reply(404, {"Title": "Not Found", "Status": 404})
        results = []
        for item in self._body(request).get("Allocations", []):
            invoice = self.invoices.get(
                (item.get("Invoice") or {}).get("InvoiceID", "")
            )
            amount = money(item.get("Amount", 0))
            if (
                invoice is None
                or invoice["Contact"]["ContactID"] != note["Contact"]["ContactID"]
            ):
                return validation_error(
                    ["The invoice must be for the same contact."], item
                )
            if amount <= 0 or amount > min(
                invoice["AmountDue"], note["RemainingCredit"]
            ):
                return validation_error(
                    [
                        "The amount allocated must not exceed the remaining "
                        "credit or the amount due."
                    ],
                    item,
                )
            invoice["AmountDue"] -= amount
            invoice["AmountCredited"] += amount
            note["RemainingCredit"] -= amount
            if invoice["AmountDue"] == 0:
                invoice["Status"] = "PAID"
            if note["RemainingCredit"] == 0:
                note["Status"] = "PAID"
            allocation = {
                "AllocationID": str(uuid.uuid4()),
                "Amount": amount,
                "Date": item.get("Date"),
                "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            }
            note["Allocations"].append(allocation)
            invoice["CreditNotes"].append(
                {"CreditNoteID": note["CreditNoteID"], "AppliedAmount": amount}
            )
            self._touch(invoice)
            self._touch(note)
            results.append(jsonable(allocation))
        return Reply(200, {"Allocations": results})

    def _payment_write(self, request: Request) -> Reply:
        body = self._body(request)
        items = body.get("Payments", [body] if "Amount" in body else [])
        results = []
        for item in items:
            account = item.get("Account") or {}
            if account.get("Code") not in {
                a["Code"] for a in ACCOUNTS if a["Type"] == "BANK"
            }:
                return validation_error(
                    ["Account code must be a bank account or have payments enabled."],
                    item,
                )
            amount = money(item.get("Amount", 0))
            invoice = self.invoices.get(
                (item.get("Invoice") or {}).get("InvoiceID", "")
            )
            note = self.credit_notes.get(
                (item.get("CreditNote") or {}).get("CreditNoteID", "")
            )
            if invoice is not None:
                if invoice["Status"] != "AUTHORISED" or amount > invoice["AmountDue"]:
                    return validation_error(
                        [
                            "Payment amount exceeds the amount outstanding on "
                            "this document."
                        ],
                        item,
                    )
                results.append(
                    self._pay(
                        invoice,
                        amount,
                        account,
                        item.get("Date"),
                        item.get("Reference", ""),
                    )
                )
            elif note is not None:
                if amount > note["RemainingCredit"]:
                    return validation_error(
                        [
                            "Payment amount exceeds the amount outstanding on "
                            "this document."
                        ],
                        item,
                    )
                note["RemainingCredit"] -= amount
                if note["RemainingCredit"] == 0:
                    note["Status"] = "PAID"
                payment = {
                    "PaymentID": str(uuid.uuid4()),
                    "Amount": amount,
                    "Date": item.get("Date"),
                    "Reference": item.get("Reference", ""),
                    "CreditNote": {"CreditNoteID": note["CreditNoteID"]},
                    "Status": "AUTHORISED",
                }
                note["Payments"].append(payment)
                self._touch(note)
                self.payments[payment["PaymentID"]] = payment
                results.append(jsonable(payment))
            else:
                return validation_error(
                    ["An Invoice or CreditNote must be specified."], item
                )
        return Reply(200, {"Payments": results})

    def _pay(
        self,
        invoice: dict,
        amount: Decimal,
        account: dict,
        on: str | None,
        reference: str,
    ) -> dict:
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Amount": amount,
            "Date": on,
            "Reference": reference,
            "Account": account,
            "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            "Status": "AUTHORISED",
        }
        invoice["AmountPaid"] += amount
        invoice["AmountDue"] -= amount
        invoice["Payments"].append(
            {k: payment[k] for k in ("PaymentID", "Amount", "Date", "Reference")}
        )
        if invoice["AmountDue"] == 0:
            invoice["Status"] = "PAID"
        self._touch(invoice)
        self.payments[payment["PaymentID"]] = payment
        return jsonable(payment)
