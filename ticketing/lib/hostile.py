"""What input can never reach PostgreSQL: the checks the middleware, the API's JSON
parser and the forms share.

PostgreSQL `text` refuses NUL, `jsonb` refuses the `\\u0000` escape and lone UTF-16
surrogates, and Python's `json` module raises RecursionError (a 500) on a few
thousand nested brackets. Everything here answers "what is wrong" as a short
sentence, or None.
"""

from __future__ import annotations

import json
import re

# C0 controls and DEL. Forms allow tab, newline and carriage return (textareas).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
FORM_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Deeper than any payload we or our providers send (Stripe's are under 10).
JSON_MAX_DEPTH = 64


def control_bytes(data: bytes) -> bool:
    return _CONTROL_BYTES.search(data) is not None


def text_problem(value: str, *, controls: re.Pattern = FORM_CONTROL_CHARACTERS):
    if controls.search(value):
        return "contains control characters"
    if _SURROGATE.search(value):
        return "contains an unpaired surrogate"
    return None


def json_problem(value, *, max_depth: int = JSON_MAX_DEPTH) -> str | None:
    """Why a decoded JSON value cannot be stored as jsonb or text: too deep, or a key
    or string holding NUL or a lone surrogate. Iterative, so depth cannot recurse."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"is nested deeper than {max_depth} levels"
        if isinstance(item, dict):
            for key, child in item.items():
                if problem := _string_problem(key):
                    return problem
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and (problem := _string_problem(item)):
            return problem
    return None


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "contains an unpaired surrogate"
    return None


def json_loads_safely(data: bytes | str):
    """`json.loads` that turns runaway nesting into ValueError (not RecursionError)."""
    try:
        return json.loads(data)
    except RecursionError as error:
        raise ValueError(f"is nested deeper than {JSON_MAX_DEPTH} levels") from error
