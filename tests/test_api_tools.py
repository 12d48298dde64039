"""/v1 tools: upsert by name, list/retrieve/modify/delete, organization scoping, running code in the sandbox."""

import pytest

from tools.models import Tool

ROLL = '''
def roll_dice(sides: int) -> str:
    """Roll a die.

    Args:
        sides: How many sides the die has.

    Returns:
        str: The result.
    """
    return f"rolled {sides}"
'''


def test_create_generates_schema_and_post_again_updates_same_tool(alice_api):
    r = alice_api.post("/v1/tools/", {"source_code": ROLL, "tags": ["games"]})
    assert r.status_code == 200, r.content
    tool = r.json()
    assert tool["name"] == "roll_dice" and tool["tool_type"] == "custom" and tool["tags"] == ["games"]
    assert tool["json_schema"]["parameters"]["properties"]["sides"]["type"] == "integer"
    assert tool["json_schema"]["parameters"]["required"] == ["sides"]

    again = alice_api.post("/v1/tools", {"source_code": ROLL.replace("Roll a die.", "Roll one die.")})
    assert again.status_code == 200 and again.json()["id"] == tool["id"]
    assert again.json()["description"].startswith("Roll one die")
    put = alice_api.put("/v1/tools/", {"source_code": ROLL, "return_char_limit": 100})
    assert put.json()["id"] == tool["id"] and put.json()["return_char_limit"] == 100
    assert Tool.objects.filter(name="roll_dice").count() == 1


def test_modify_retrieve_delete(alice_api):
    tool = alice_api.post("/v1/tools/", {"source_code": ROLL}).json()
    r = alice_api.patch(f"/v1/tools/{tool['id']}", {"metadata_": {"owner": "ada"}, "tags": ["x"]})
    assert r.status_code == 200 and r.json()["metadata_"] == {"owner": "ada"} and r.json()["tags"] == ["x"]
    assert alice_api.get(f"/v1/tools/{tool['id']}").json()["metadata_"] == {"owner": "ada"}
    r = alice_api.delete(f"/v1/tools/{tool['id']}")
    assert r.status_code == 200 and "deleted" in r.json()["message"]
    assert alice_api.get(f"/v1/tools/{tool['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({"source_code": "def broken(:\n  pass"}, 400, "source_code"),
        ({"source_code": "x = 1"}, 400, "function"),
        ({"source_code": ROLL, "return_char_limit": 0}, 422, "return_char_limit"),
        ({"source_code": ROLL, "source_type": "ruby"}, 422, "source_type"),
        ({"source_code": ROLL, "owner": "me"}, 422, "owner"),
    ],
)
def test_bad_tool_input_is_4xx_and_nothing_saved(alice_api, body, status, word):
    r = alice_api.post("/v1/tools/", body)
    assert r.status_code == status, r.content
    assert word in r.json()["detail"]
    assert not Tool.objects.filter(tool_type="custom").exists()


def test_tools_of_other_organizations_are_invisible(alice_api, mallory_api):
    tool = alice_api.post("/v1/tools/", {"source_code": ROLL}).json()
    assert mallory_api.get(f"/v1/tools/{tool['id']}").status_code == 404
    assert mallory_api.patch(f"/v1/tools/{tool['id']}", {"tags": ["pwned"]}).status_code == 404
    assert mallory_api.delete(f"/v1/tools/{tool['id']}").status_code == 404
    assert all(t["id"] != tool["id"] for t in mallory_api.get("/v1/tools/").json())
    assert Tool.objects.get(id=tool["id"]).tags == []


def test_tool_list_filters_and_pages(alice_api):
    names = []
    for i in range(5):
        names.append(
            alice_api.post("/v1/tools/", {"source_code": ROLL.replace("roll_dice", f"roll_{i}")}).json()["name"]
        )
    seen, after = [], None
    while page := alice_api.get(
        "/v1/tools/", {"limit": 2, "search": "roll_", **({"after": after} if after else {})}
    ).json():
        seen += [t["name"] for t in page]
        after = page[-1]["id"]
    assert seen == names[::-1]  # newest first
    assert [t["name"] for t in alice_api.get("/v1/tools/", {"name": "roll_3"}).json()] == ["roll_3"]


def test_run_from_source_in_the_sandbox(alice_api, client):
    r = alice_api.post("/v1/tools/run", {"source_code": ROLL, "args": {"sides": 6}})
    assert r.status_code == 200, r.content
    assert r.json()["message_type"] == "tool_return_message"
    assert r.json()["status"] == "success" and r.json()["tool_return"] == "rolled 6"

    leak = '''
def peek() -> str:
    """Look around."""
    import os
    return repr([os.environ.get(k) for k in ("DATABASE_URL", "SECRET_KEY", "OPENAI_API_KEY")]) + os.environ["GREETING"]
'''
    r = alice_api.post("/v1/tools/run", {"source_code": leak, "args": {}, "env_vars": {"GREETING": "hi"}})
    assert r.json()["status"] == "success" and r.json()["tool_return"] == "[None, None, None]hi"

    r = alice_api.post("/v1/tools/run", {"source_code": ROLL, "args": {"faces": 6}})
    assert r.status_code == 400 and "sides" in r.json()["detail"]
    assert (
        client.post("/v1/tools/run", {"source_code": ROLL, "args": {}}, content_type="application/json").status_code
        == 401
    )


def test_run_from_source_is_time_limited(alice_api, settings):
    settings.TOOL_TIMEOUT_SECONDS = 1
    slow = '''
def nap() -> str:
    """Sleep."""
    import time
    time.sleep(30)
    return "awake"
'''
    r = alice_api.post("/v1/tools/run", {"source_code": slow, "args": {}})
    assert r.status_code == 200 and r.json()["status"] == "error"
    assert "awake" not in r.json()["tool_return"]
