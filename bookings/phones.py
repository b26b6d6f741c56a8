"""Phone numbers as the pages and the API accept them, stored in E.164."""

from __future__ import annotations

import phonenumbers


def phone_normalise(raw: str, region: str | None) -> str:
    """`raw` in E.164 (`+33612345678`), "" for blank. A national number needs
    `region` (ISO 3166, e.g. "FR"); without it only the international form
    parses. Raises ValueError for anything that is not a valid number."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(str(error)) from error
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
