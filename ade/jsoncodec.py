"""JSON through orjson where the json module spent a request's time: columns read (Django's JSONField), the model's
requests and answers, and API responses. Python's json took ~6 µs to read even a short column (a page of 60
messages reads ~90) and ~0.3 ms to write a 160-message model request; orjson does both 3–6× faster.

The values are the json module's: whatever orjson refuses (NaN and Infinity read, lone surrogates, integers past 64
bits, nesting past 1024 levels, types it does not know) goes through json as before, errors included. Written JSON
is compact and UTF-8 rather than ASCII-escaped, the same values either way, except that a float NaN or infinity is
written as null (json wrote NaN, which is not JSON: clients and PostgreSQL refuse it).
"""

import json

import orjson

_WRITE = orjson.OPT_NON_STR_KEYS  # {1: …} written as {"1": …}, as json does


def loads(text):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value, default=None, *, datetimes_by_default: bool = False) -> bytes:
    """`value` as JSON bytes. `default` converts what JSON lacks, as json's `default`; with `datetimes_by_default`
    datetimes go to it too (orjson would write its own ISO format)."""
    option = _WRITE | (orjson.OPT_PASSTHROUGH_DATETIME if datetimes_by_default else 0)
    try:
        return orjson.dumps(value, default=default, option=option)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=default).encode()


def read_json_columns_with_orjson() -> None:
    """Django's JSONField reads each column with json.loads; rows with a few JSON columns spent most of their
    conversion there. Fields with a decoder of their own, and values orjson refuses, keep Django's way."""
    from django.db.models import JSONField

    django_read = JSONField.from_db_value

    def from_db_value(self, value, expression, connection):
        if self.decoder is None and isinstance(value, str):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return django_read(self, value, expression, connection)

    JSONField.from_db_value = from_db_value
