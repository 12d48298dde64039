"""ade/jsoncodec.py reads and writes the values the json module does (orjson where it can, json where it cannot):
for JSON columns, the model's requests and answers, and the API's responses."""

import datetime
import decimal
import enum
import json
import math
import uuid

import pytest
from ninja import Schema
from ninja.renderers import JSONRenderer

from ade import jsoncodec
from ade.api import OrjsonRenderer
from agents.models import Message

TEXTS = [
    '{"a": 1, "b": [true, false, null], "c": "é ✓ 😀", "d": -0.0, "e": 1.5e-7}',
    '"\\ud83d\\ude00 and a lone \\ud800 surrogate"',
    "[18446744073709551616, -9223372036854775809, 1e400]",  # past 64 bits; past a float
    "[NaN, Infinity, -Infinity]",  # not JSON, yet json reads them
    '{"k": 1, "k": 2}',
    '  {"spaced" :\t"out"}\n',
]
BAD = ["", "{", '{"a": 1,}', "[1 2]", "\ufeff[]"]


@pytest.mark.parametrize("text", TEXTS)
def test_reads_what_json_reads(text):
    ours, theirs = jsoncodec.loads(text), json.loads(text)
    assert repr(ours) == repr(theirs)  # NaN == NaN is false; their reprs are equal
    assert repr(jsoncodec.loads(text.encode("utf-8", "surrogatepass"))) == repr(theirs) or "\\ud800" in text


def test_nesting_too_deep_for_either_fails_as_json_failed():
    text = "[" * 5000 + "]" * 5000
    with pytest.raises(RecursionError):
        json.loads(text)
    with pytest.raises(RecursionError):
        jsoncodec.loads(text)


@pytest.mark.parametrize("text", BAD)
def test_refuses_what_json_refuses(text):
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        jsoncodec.loads(text)


VALUES = [
    {"messages": [{"role": "user", "content": "é ✓ 😀 \u2028"}], "n": 3, "x": 0.1, "none": None},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
    [2**70, -(2**70)],  # past 64 bits: through json
    ("a", "tuple"),
    "lone \ud800 surrogate",  # through json
]


@pytest.mark.parametrize("value", VALUES)
def test_writes_what_json_writes(value):
    assert json.loads(jsoncodec.dumps(value)) == json.loads(json.dumps(value))


def test_writes_non_finite_floats_as_null_where_json_wrote_no_json():
    assert json.loads(jsoncodec.dumps([math.nan, math.inf])) == [None, None]


def test_a_value_neither_knows_is_a_type_error_as_before():
    with pytest.raises(TypeError):
        jsoncodec.dumps({"x": object()})
    assert jsoncodec.dumps({"x": object()}, default=lambda o: "conv") == b'{"x":"conv"}'


class Color(enum.StrEnum):  # our schemas use Literal; a plain Enum would be written by its value
    RED = "red"


class Thing(Schema):
    name: str
    at: datetime.datetime


def test_api_answers_are_what_ninjas_json_renderer_wrote():
    moment = datetime.datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=datetime.UTC)
    data = {
        "at": moment,
        "naive": moment.replace(tzinfo=None),
        "day": moment.date(),
        "time": moment.time(),
        "span": datetime.timedelta(seconds=90),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "price": decimal.Decimal("1.10"),
        "color": Color.RED,
        "thing": Thing(name="a", at=moment),
        "text": "é ✓ 😀",
        "nested": [{"n": 1, "m": [None, True, 2.5]}],
    }
    ours = OrjsonRenderer().render(None, data, response_status=200)
    theirs = JSONRenderer().render(None, data, response_status=200)
    assert json.loads(ours) == json.loads(theirs)
    assert json.loads(ours)["at"] == "2026-12-07T08:30:15.123Z"  # Django's format, not orjson's own


@pytest.mark.django_db
def test_json_columns_read_back_what_was_written(alice, org):
    from agents.actions import create_agent

    agent = create_agent(alice, {"name": "codec", "model": "engram/scripted", "embedding": "engram/scripted-embed"})
    # Past 64 bits: orjson refuses it, json reads it (PostgreSQL refuses lone surrogates, so none here).
    odd = [{"type": "text", "text": "é ✓ 😀 \u2028"}, {"big": 2**70, "tiny": 5e-324}]
    row = Message.objects.filter(agent=agent).first()
    Message.objects.filter(id=row.id).update(content=odd)
    assert Message.objects.get(id=row.id).content == odd
    assert list(Message.objects.filter(id=row.id).values_list("content", flat=True)) == [odd]


@pytest.mark.django_db
def test_json_columns_are_read_by_orjson(alice, org, monkeypatch):
    import orjson

    from agents.actions import create_agent

    agent = create_agent(alice, {"name": "codec", "model": "engram/scripted", "embedding": "engram/scripted-embed"})
    read = []
    monkeypatch.setattr(orjson, "loads", lambda text, real=orjson.loads: read.append(text) or real(text))
    system = Message.objects.filter(agent=agent, role="system").get()
    assert any(json.loads(text) == system.content for text in read)
