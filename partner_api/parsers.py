"""The API's JSON parser: DRF's, refusing what PostgreSQL or Python cannot take.

A body nested deeper than `JSON_MAX_DEPTH` (DRF's parser would raise RecursionError,
a 500), or holding NUL or a lone surrogate in any key or string (jsonb and text refuse
them), is a 400 `parse_error` in the API's error shape.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from ticketing.lib.hostile import JSON_MAX_DEPTH, json_problem


class SafeJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels"
            ) from None
        if problem := json_problem(data):
            raise ParseError(f"JSON parse error - the body {problem}")
        return data
