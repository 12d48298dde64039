"""Tool registry actions: create/upsert/update/delete scoped to the organization, and running source."""

import pytest

from ade.errors import Conflict, Invalid, NotFound
from tools.actions import create_tool, delete_tool, ensure_base_tools, run_tool_from_source, update_tool, upsert_tool
from tools.models import Tool

WEATHER = '''def get_weather(city: str, units: str = "metric") -> str:
    """Look up the weather.

    Args:
        city: The city name.
        units: metric or imperial.
    """
    return f"sunny in {city}"
'''


def test_create_generates_the_schema_and_records_the_author(alice):
    tool = create_tool(alice, WEATHER, tags=["weather"], pip_requirements=[{"name": "requests"}])
    assert (tool.name, tool.tool_type, tool.description) == ("get_weather", "custom", "Look up the weather.")
    assert tool.json_schema["parameters"]["required"] == ["city"]
    assert tool.organization_id == alice.organization_id and tool.created_by_id == alice.id
    assert tool.pip_requirements == [{"name": "requests", "version": None}]
    assert tool.return_char_limit == 50_000


def test_names_are_unique_per_organization(alice, bob, mallory):
    create_tool(alice, WEATHER)
    with pytest.raises(Conflict, match="already exists") as info:
        create_tool(bob, WEATHER)
    assert info.value.status == 409
    assert create_tool(mallory, WEATHER).organization_id == mallory.organization_id  # another organization


def test_base_tool_names_are_reserved_and_base_tools_are_read_only(org, alice):
    with pytest.raises(Invalid, match="name of a built-in tool"):
        create_tool(alice, "def send_message(message: str):\n    return message\n")
    base = ensure_base_tools(org)["send_message"]
    with pytest.raises(Invalid, match="built-in tool"):
        update_tool(alice, base.id, {"description": "mine now"})
    with pytest.raises(Invalid, match="built-in tool"):
        delete_tool(alice, base.id)


def test_bad_input_is_a_400_naming_the_field(alice):
    cases = [
        ({"source_code": "def f(:"}, "source_code"),
        ({"source_code": WEATHER, "return_char_limit": 0}, "return_char_limit"),
        ({"source_code": WEATHER, "tags": "weather"}, "tags"),
        ({"source_code": WEATHER, "pip_requirements": [{"version": "1"}]}, "pip_requirements"),
        ({"source_code": WEATHER, "source_type": "typescript"}, "source_type"),
        ({"source_code": WEATHER, "json_schema": {"name": "other_name"}}, "source_code"),
    ]
    for kwargs, field in cases:
        with pytest.raises(Invalid) as info:
            create_tool(alice, **kwargs)
        assert info.value.field == field, kwargs
    assert not Tool.objects.exists()


def test_a_supplied_json_schema_is_kept(alice):
    schema = {
        "name": "get_weather",
        "description": "Custom words",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    tool = create_tool(alice, WEATHER, json_schema=schema)
    assert tool.json_schema == schema and tool.description == "Custom words"
    updated = update_tool(alice, tool.id, {"description": "Newer words"})
    assert updated.json_schema["parameters"] == schema["parameters"]  # not regenerated from the source
    assert updated.json_schema["description"] == updated.description == "Newer words"


def test_upsert_updates_in_place_by_name(alice):
    first = upsert_tool(alice, WEATHER)
    second = upsert_tool(alice, WEATHER.replace("Look up the weather.", "Check the sky."), return_char_limit=100)
    assert second.id == first.id
    assert (second.description, second.return_char_limit) == ("Check the sky.", 100)
    assert Tool.objects.count() == 1


def test_update_regenerates_the_schema_and_refuses_a_taken_name(alice):
    tool = create_tool(alice, WEATHER)
    create_tool(alice, "def other(x: int):\n    return x\n")
    renamed = update_tool(alice, tool.id, {"source_code": WEATHER.replace("get_weather", "forecast")})
    assert renamed.name == "forecast" and renamed.json_schema["name"] == "forecast"
    with pytest.raises(Conflict):
        update_tool(alice, tool.id, {"source_code": "def other(y: str):\n    return y\n"})
    with pytest.raises(Invalid, match="unknown tool field"):
        update_tool(alice, tool.id, {"tool_type": "letta_core"})
    assert Tool.objects.get(id=tool.id).name == "forecast"


def test_other_organizations_cannot_touch_a_tool(alice, mallory):
    tool = create_tool(alice, WEATHER)
    with pytest.raises(NotFound):
        update_tool(mallory, tool.id, {"description": "x"})
    with pytest.raises(NotFound):
        delete_tool(mallory, tool.id)
    delete_tool(alice, tool.id)
    assert not Tool.objects.exists()


def test_run_from_source_in_the_sandbox(alice, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret")
    ok = run_tool_from_source(alice, WEATHER, {"city": "Lisbon"})
    assert (ok.status, ok.func_return) == ("success", "sunny in Lisbon")
    env = run_tool_from_source(
        alice, "import os\ndef env() -> dict:\n    return dict(os.environ)\n", {}, env={"API_TOKEN": "t"}
    )
    assert env.func_return["API_TOKEN"] == "t" and "SECRET_KEY" not in env.func_return
    slow = run_tool_from_source(alice, "import time\ndef slow():\n    time.sleep(60)\n", {}, timeout=1)
    assert slow.status == "error" and "did not finish within 1 seconds" in slow.func_return
    with pytest.raises(Invalid, match="missing required argument"):
        run_tool_from_source(alice, WEATHER, {})
    with pytest.raises(Invalid) as info:
        run_tool_from_source(alice, "print('no function')", {})
    assert info.value.field == "source_code"
