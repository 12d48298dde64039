"""JSON schemas generated from a tool's Python source (parsed, never executed)."""

import pytest

from ade.errors import Invalid
from tools.schema import check_json_schema, generate_schema

DICE = '''
from typing import List, Literal, Optional

def helper(x):
    return x

def roll_dice(sides: int, times: Optional[int] = None, mode: Literal["sum", "max"] = "sum",
              labels: List[str] = [], weights: list[float] | None = None, verbose: bool = False,
              options: dict = None, note: "str" = "") -> str:
    """Roll some dice and report the result.

    Useful for games.

    Args:
        sides (int): How many sides each die has,
            counted from one.
        times: How many dice to roll.
        mode: How to combine the rolls.
        labels:
        weights: Relative weight of each side.

    Returns:
        str: The outcome.
    """
    return "4"
'''


def test_signature_and_docstring_become_the_schema():
    schema = generate_schema(DICE)

    assert schema["name"] == "roll_dice"  # the last top-level function; helpers may come first
    assert schema["description"] == "Roll some dice and report the result. Useful for games."
    props = schema["parameters"]["properties"]
    assert props["sides"] == {"type": "integer", "description": "How many sides each die has, counted from one."}
    assert props["times"] == {"type": "integer", "description": "How many dice to roll."}
    assert props["mode"] == {"type": "string", "enum": ["sum", "max"], "description": "How to combine the rolls."}
    assert props["labels"] == {"type": "array", "items": {"type": "string"}}  # no description given: none invented
    assert props["weights"]["items"] == {"type": "number"}
    assert props["verbose"] == {"type": "boolean"}
    assert props["options"] == {"type": "object"}
    assert props["note"] == {"type": "string"}
    assert schema["parameters"]["required"] == ["sides"]
    assert schema["parameters"]["type"] == "object"


def test_source_is_parsed_not_executed(tmp_path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\n\ndef f(a: str):\n    '''Doc.'''\n"
    assert generate_schema(source)["name"] == "f"
    assert not marker.exists()


def test_hidden_parameters_and_missing_docstring():
    schema = generate_schema("def lookup(agent_state, key: str, *args, **kwargs):\n    return key\n")
    assert list(schema["parameters"]["properties"]) == ["key"]
    assert schema["description"] == ""


def test_a_named_function_can_be_chosen():
    source = "def first(a: int):\n    pass\n\ndef second(b: str):\n    pass\n"
    assert generate_schema(source, name="first")["parameters"]["required"] == ["a"]
    assert generate_schema(source)["name"] == "second"
    with pytest.raises(Invalid, match="no top-level function named 'nope'"):
        generate_schema(DICE, name="nope")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "must not be empty"),
        ("x = 1\n", "must define a top-level function"),
        ("def f(:\n  pass", "syntax error on line 1"),
        ("def f(a):\n    pass\n", "parameter 'a' needs a type annotation"),
        ("def f(a: set[Foo]):\n    pass\n", "unsupported type 'Foo'"),
        (f"def {'n' * 49}(a: int):\n    pass\n", "longer than 48 characters"),
    ],
)
def test_bad_source_is_refused_with_a_clear_message(source, message):
    with pytest.raises(Invalid, match=message) as info:
        generate_schema(source)
    assert info.value.field in ("source_code", "name")


def test_supplied_json_schema_is_checked():
    ok = check_json_schema(
        {
            "name": "f",
            "description": "d",
            "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        }
    )
    assert ok["parameters"]["required"] == ["a"]
    with pytest.raises(Invalid, match="undefined parameter"):
        check_json_schema({"name": "f", "parameters": {"type": "object", "properties": {}, "required": ["a"]}})
    with pytest.raises(Invalid, match="identifier"):
        check_json_schema({"name": "not a name"})
