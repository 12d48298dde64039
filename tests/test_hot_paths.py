"""The hot paths stay cheap: how many queries a turn and an archival insert run (counts, not times), and that
the number does not grow with the conversation or the archive. Speed itself is measured by
`python manage.py bench server`; these tests keep its wins from slipping back.

A change that adds a query to one of these paths should be deliberate: update the number, and say why.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

ROOT = Path(__file__).resolve().parent.parent
# Transaction control differs between SQLite (BEGIN IMMEDIATE, COMMIT) and PostgreSQL (implicit) and is not
# counted; every statement that reads or writes rows is.
CONTROL_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET ")
# POST /v1/agents/{id}/messages, one step answered in plain text (20 before the agent was read once per request,
# the run claimed with one conditional UPDATE, and its duration and status written and known at its end; 16 before
# the sleep-time trigger read the turn's agent row instead of asking for a group)
REPLY_TURN_QUERIES = 15
TOOL_TURN_QUERIES = (
    24  # the same with a conversation_search step (hybrid: +4 to embed the new messages and rank by meaning)
)
AGENT_CREATE_QUERIES = 17  # POST /v1/agents/ with two blocks (37 before a new agent's rows were inserted without
# an UPDATE tried first, and its block and tool links in one INSERT each; 28 before its blocks, their histories and
# audit entries went in one INSERT per table, and the key's organization was read with the key; 24 before the
# AgentState it answers read only the relations that have rows; 20 before its system message was compiled from what
# create had just written, and inserted with its text)
AGENT_GET_QUERIES = 5  # GET /v1/agents/{id}: the key, the agent, which of its seven relations have rows, and those
# (blocks, tools); 9 before, with one query per relation
MESSAGE_LIST_QUERIES = 3  # GET /v1/agents/{id}/messages?limit=60: the key, the agent, the page
ARCHIVAL_INSERT_QUERIES = 10  # POST /v1/agents/{id}/archival-memory (14 before only the metadata section was
# rewritten and the passage's organization and author were set by id)


def data_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].lstrip().upper().startswith(CONTROL_STATEMENTS)]


def listing(queries: list[str]) -> str:
    return "\n".join(f"  {i + 1:2}. {sql[:150]}" for i, sql in enumerate(queries))


@pytest.fixture
def agent(alice):
    from agents.actions import create_agent

    return create_agent(
        alice,
        {
            "name": "hot-path",
            "memory_blocks": [
                {"label": "human", "value": "The user likes short answers."},
                {"label": "persona", "value": "A helpful assistant."},
            ],
        },
    )


def send(api, agent, text: str) -> dict:
    r = api.post(f"/v1/agents/{agent.id}/messages", {"messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.content
    assert r.json()["stop_reason"]["stop_reason"] == "end_turn"
    return r.json()


def counted(run) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        run()
    return data_queries(captured)


def test_a_reply_turn_runs_a_fixed_number_of_queries_however_long_the_conversation(alice_api, agent, scripted_llm):
    send(alice_api, agent, "Hello there.")  # the first turn may warm caches
    for i in range(4):  # each turn adds two messages to the context
        queries = counted(lambda: send(alice_api, agent, f"Tell me something about the number {i}."))
        assert len(queries) == REPLY_TURN_QUERIES, f"turn {i}:\n{listing(queries)}"


def test_a_tool_step_adds_a_fixed_number_of_queries(alice_api, agent, scripted_llm):
    send(alice_api, agent, "Hello there.")
    for i in range(3):
        scripted_llm.queue_tool_call("conversation_search", {"query": "hello"})
        scripted_llm.queue_text(f"I found it ({i}).")
        queries = counted(lambda: send(alice_api, agent, f"What did I say first? ({i})"))
        assert len(queries) == TOOL_TURN_QUERIES, f"turn {i}:\n{listing(queries)}"


def test_an_archival_insert_runs_a_fixed_number_of_queries_however_big_the_archive(alice_api, agent):
    path = f"/v1/agents/{agent.id}/archival-memory"
    assert alice_api.post(path, {"text": "The first fact."}).status_code == 200
    for i in range(4):
        queries = counted(lambda: alice_api.post(path, {"text": f"Fact number {i}.", "tags": [f"t{i}"]}))
        assert len(queries) == ARCHIVAL_INSERT_QUERIES, f"insert {i}:\n{listing(queries)}"


def test_agent_create_get_and_message_list_run_a_fixed_number_of_queries(alice_api, agent, scripted_llm):
    body = {
        "name": "pinned",
        "model": "engram/scripted",
        "memory_blocks": [{"label": "human", "value": "Ada."}, {"label": "persona", "value": "Terse."}],
    }
    alice_api.get(f"/v1/agents/{agent.id}")  # the key's last use is written at most once a minute: not here
    queries = counted(lambda: alice_api.post("/v1/agents/", body))
    assert len(queries) == AGENT_CREATE_QUERIES, f"create:\n{listing(queries)}"
    for i in range(3):
        send(alice_api, agent, f"Message {i}.")
        queries = counted(lambda: alice_api.get(f"/v1/agents/{agent.id}"))
        assert len(queries) == AGENT_GET_QUERIES, f"get {i}:\n{listing(queries)}"
        queries = counted(lambda: alice_api.get(f"/v1/agents/{agent.id}/messages?limit=60"))
        assert len(queries) == MESSAGE_LIST_QUERIES, f"list {i}:\n{listing(queries)}"


def test_a_turn_sends_messages_edited_since_the_last_turn(alice_api, agent, scripted_llm):
    """Turns reuse in-context rows read by the previous turn (agents/runtime/records.py); an edit must still reach the model."""
    from agents.models import Message

    send(alice_api, agent, "My favourite colour is red.")
    row = Message.objects.filter(agent_id=agent.id, role="user").order_by("seq").last()
    send(alice_api, agent, "Noted?")  # this turn reads the first one's rows from the database
    assert "colour is red" in str(scripted_llm.last_request()["messages"])
    r = alice_api.patch(
        f"/v1/agents/{agent.id}/messages/{row.id}",
        {"message_type": "user_message", "content": "My favourite colour is green."},
    )
    assert r.status_code == 200, r.content
    send(alice_api, agent, "What is my favourite colour?")
    sent = str(scripted_llm.last_request()["messages"])
    assert "green" in sent and "colour is red" not in sent


def test_archival_changes_leave_the_system_message_as_a_full_compile_would(alice_api, agent):
    """An insert or delete rewrites only the metadata section (memory/context.py); the result must be the text a
    full compile gives at the same moment: counts, tags and all."""
    from agents.models import Agent, Message
    from memory.context import _RECOMPILED_RE, compile_system_prompt

    def stored_and_compiled():
        fresh = Agent.objects.get(id=agent.id)
        stored = Message.objects.get(id=fresh.message_ids[0]).text
        stamp = _RECOMPILED_RE.search(stored).group(1)
        return stored, compile_system_prompt(fresh, compiled_at=stamp)

    send(alice_api, agent, "Hello there.")  # some recall memory
    path = f"/v1/agents/{agent.id}/archival-memory"
    first = alice_api.post(path, {"text": "Ada likes tea.", "tags": ["drinks", "ada"]}).json()[0]
    alice_api.post(path, {"text": "Ada has a cat.", "tags": ["pets"]})
    stored, compiled = stored_and_compiled()
    assert "2 total memories" in stored and "Available archival memory tags: ada, drinks, pets" in stored
    assert stored == compiled
    assert alice_api.delete(f"{path}/{first['id']}").status_code in (200, 204)
    stored, compiled = stored_and_compiled()
    assert "1 total memories" in stored and "tags: pets" in stored and "drinks" not in stored
    assert stored == compiled


def test_the_model_receives_the_messages_exactly_as_built(scripted_llm):
    """The OpenAI SDK's re-walk of messages and tools is skipped (agents/runtime/llm.py): what reaches the provider must
    still be exactly what we built, with parts, tool calls and tool results."""
    from agents.runtime.llm import complete
    from agents.runtime.providers import resolve_llm

    messages = [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look: "},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "OK", "message": "found"}'},
        {"role": "user", "content": "Thanks, and héllo ✓"},
    ]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Find things.",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
    ]
    scripted_llm.queue_text("Done.")
    result = complete(resolve_llm("engram/scripted"), messages, tools=tools, tool_choice="auto")
    sent = scripted_llm.last_request()
    assert result.content == "Done."
    # litellm itself drops None fields (the assistant's `content: None`); nothing else may change.
    expected = [{k: v for k, v in m.items() if v is not None} for m in messages]
    assert sent["messages"] == expected and sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert not any(key.startswith("_") for key in sent)  # litellm's own switches stay out of the request


def in_a_fresh_process(code: str, *args: str, **env) -> list[str]:
    """What `code` prints, run with `args` in a new Python process with Django set up from this repository."""
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code, *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "ade.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_the_warm_up_and_a_call_with_tools_import_no_mcp_gateway(scripted_llm_server):
    """litellm asked its MCP gateway (the mcp package, starlette, uvicorn: 0.6 s on a server's first message)
    whether a tool named a proxy MCP server; ours never do (agents/runtime/litellm_setup.py). In a fresh process,
    since this one may have imported it for other reasons."""
    code = (
        "import sys\n"
        "from agents.runtime.llm import _rehearse, complete, litellm\n"
        "_rehearse(litellm())  # the start-up warm-up's calls, answered by litellm itself\n"
        "from agents.runtime.providers import resolve_llm\n"
        "tool = {'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object', 'properties': {}}}}\n"
        "result = complete(resolve_llm('engram/scripted'), [{'role': 'user', 'content': 'hi'}], tools=[tool])\n"
        "print(bool(result.content or result.tool_calls), 'mcp' in sys.modules)\n"
    )
    assert in_a_fresh_process(code, SCRIPTED_LLM_URL=scripted_llm_server.url) == ["True", "False"]


def test_a_web_process_starts_without_celery_or_jinja2_and_loads_them_when_needed():
    """Celery (~0.1 s) loads when work is first handed to it (ade/queue.py), its tasks registered then; jinja2 (~0.1 s,
    pulled in by django-ninja through django.test) loads with litellm, not at start-up (ade/__init__.py)."""
    code = (
        "import sys\n"
        "import ade.asgi\n"
        "print('celery' in sys.modules, 'jinja2' in sys.modules)\n"
        "from ade.celery import registered\n"
        "print(registered('memory.ingest_file').name, registered('agents.execute_queued').name)\n"
        "import jinja2\n"
        "print(jinja2.Template('{{ 6 * 7 }}').render())\n"
    )
    assert in_a_fresh_process(code, WARM_LITELLM="0") == [
        "False",
        "False",
        "memory.ingest_file",
        "agents.execute_queued",
        "42",
    ]


def test_a_process_that_exits_during_the_warm_up_lets_it_finish_first():
    """The interpreter's finalization waited forever for an import lock the frozen warm-up thread held (daphne
    stopped with Ctrl-C seconds after start never exited): the exit now waits for the warm-up to end."""
    code = "import sys\nfrom agents.runtime import llm\nllm.warm_up(then=lambda: print('warmed'))\nsys.exit(0)\n"
    assert in_a_fresh_process(code) == ["warmed"]


def test_under_daphne_the_warm_up_starts_once_the_reactor_runs():
    """A warm-up thread started while the application loaded took half of the GIL from the rest of start-up
    (~0.17 s later to healthy): under the daphne command it starts once the reactor runs, after the sockets listen;
    under any other server (where the reactor may never run) as the application loads."""
    code = (
        "import sys, threading\n"
        "if sys.argv[1:] == ['daphne']:\n"
        "    import daphne.cli\n"
        "from twisted.internet import reactor  # installed by django.setup(): daphne is an installed app\n"
        "import ade.asgi\n"
        "warming = lambda: any(t.name == 'litellm-warm-up' for t in threading.enumerate())\n"
        "print(warming())\n"
        "reactor.callWhenRunning(lambda: (print(warming()), reactor.stop()))\n"
        "reactor.run(installSignalHandlers=False)\n"
    )
    assert in_a_fresh_process(code, "daphne", WARM_LITELLM="1") == ["False", "True"]
    assert in_a_fresh_process(code, WARM_LITELLM="1") == ["True", "True"]


def test_the_web_servers_command_starts_without_tls_or_the_collector():
    """`python -m ade.serve` (the web server's command) loads daphne and twisted without pyOpenSSL (~90 ms and ~6 MiB
    of every start; TLS ends at the proxy), and whatever imports it later still can. The garbage collector is off
    until start-up is over (~15 % of it went to collecting objects that live on); then on again, with start-up's
    objects frozen."""
    code = (
        "import gc, sys\n"
        "import ade.serve\n"
        "print('OpenSSL' in sys.modules, 'daphne.server' in sys.modules, gc.isenabled())\n"
        "import django; django.setup()\n"
        "from twisted.internet import reactor\n"
        "import ade.asgi\n"
        "print(gc.isenabled())\n"
        "reactor.callWhenRunning(lambda: (print(gc.isenabled(), gc.get_freeze_count() > 100_000), reactor.stop()))\n"
        "reactor.run(installSignalHandlers=False)\n"
        "import OpenSSL\n"
        "print('ok')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ade.settings", "WARM_LITELLM": "0"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True", "False", "False", "True", "True", "ok"], done.stderr[-2000:]


def test_a_worker_process_warms_up_without_the_collector_then_freezes_what_it_loaded():
    """As a web server starts (above): a Celery worker process imports litellm with the collector off, and turns it
    back on with what it loaded frozen."""
    code = (
        "import gc, threading\n"
        "from ade.celery import warm_up_litellm\n"
        "warm_up_litellm()\n"
        "print(gc.isenabled())\n"
        "next(t for t in threading.enumerate() if t.name == 'litellm-warm-up').join(120)\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 100_000)\n"
    )
    assert in_a_fresh_process(code, WARM_LITELLM="1") == ["False", "True", "True"]


def test_loading_the_urls_makes_no_operation_or_schema_until_used():
    """Registering the operations once built ~570 pydantic models before a server could answer (ade/ninja_tuning.py): our
    schemas are built on first use now, and each operation's signature and parameter and response models are made
    when first asked for; then they validate as before. In a fresh process, since this one has used them."""
    code = (
        "import gc\n"
        "import ade.urls\n"
        "from ninja.operation import Operation\n"
        "from ninja.params.models import ParamModel\n"
        "from pydantic import ValidationError\n"
        "from agents.api.schemas import AgentIn\n"
        "ops = [o for o in gc.get_objects() if isinstance(o, Operation)]\n"
        "params = [c for base in ParamModel.__subclasses__() for c in [base, *base.__subclasses__()]]\n"
        "print(len(ops) > 300, sum('signature' in vars(o) for o in ops), len(params))\n"
        "create = next(o for o in ops if o.view_func.__name__ == 'create_agent' and 'signature' not in vars(o))\n"
        "print([m.__name__ for m in create.models], create.response_models[200].__name__)\n"
        "try:\n"
        "    AgentIn.model_validate({'name': 5})\n"
        "except ValidationError as e:\n"
        "    print(e.errors()[0]['loc'][0], AgentIn.__pydantic_complete__)\n"
    )
    assert in_a_fresh_process(code, WARM_LITELLM="0") == [
        *("True", "0", "8"),  # ninja's own parameter bases only
        *("['BodyParams']", "NinjaResponseSchema"),
        *("name", "True"),
    ]


def test_the_embedded_default_starts_without_numpy_redis_or_httpx(tmp_path):
    """They took ~150 ms of every start-up and are imported when first needed: numpy by the first vector, Redis's
    client only with REDIS_URL, httpx by litellm's warm-up or the first model call."""
    code = (
        "import sys\n"
        "import ade.asgi\n"
        "print(*[m in sys.modules for m in ('numpy', 'redis', 'httpx')])\n"
        "from memory.embeddings import embed\n"
        "print(embed(['a vector at last'], None).shape[1], 'numpy' in sys.modules)\n"
    )
    env = {"DATABASE_URL": "", "REDIS_URL": "", "ENGRAM_VAR_DIR": str(tmp_path), "WARM_LITELLM": "0"}
    assert in_a_fresh_process(code, **env) == ["False", "False", "False", "384", "True"]


def test_a_call_to_a_scripted_server_elsewhere_loads_no_scripted_server_code(tmp_path):
    """With SCRIPTED_LLM_URL (`bench server`, the tests' servers) the first call's address lookup loaded our own
    scripted server and aiohttp: ~0.3 s of the first message after start-up."""
    code = (
        "import sys\n"
        "import ade.asgi\n"
        "from agents.runtime.providers import litellm_kwargs, resolve_llm\n"
        "print(litellm_kwargs(resolve_llm('engram/scripted'))['api_base'])\n"
        "print(*[m in sys.modules for m in ('aiohttp', 'agents.scripted.server')])\n"
    )
    env = {"DATABASE_URL": "", "REDIS_URL": "", "ENGRAM_VAR_DIR": str(tmp_path), "WARM_LITELLM": "0"}
    url = "http://127.0.0.1:9/v1"
    assert in_a_fresh_process(code, SCRIPTED_LLM_URL=url, **env) == [url, "False", "False"]


def test_whole_rows_become_the_objects_from_db_makes(alice, alice_api, agent, scripted_llm):
    """`row_object` builds a whole row without Model.__init__ (ade/prepared.py): for every model of ours, the same
    object `from_db` builds, whose relations load as theirs do; a partial row is left to from_db."""
    from django.apps import apps

    from ade.prepared import attnames, row_object

    send(alice_api, agent, "Hello.")
    checked = set()
    for model in apps.get_models():
        if model._meta.app_label not in ("accounts", "agents", "memory", "tools", "evals"):
            continue
        names = attnames(model)
        for values in model.objects.values_list(*names)[:3]:
            fast, made = row_object(model, "default", names, values), model.from_db("default", names, values)
            assert type(fast) is model and fast is not made
            assert {k: v for k, v in fast.__dict__.items() if k != "_state"} == {
                k: v for k, v in made.__dict__.items() if k != "_state"
            }
            assert (fast._state.adding, fast._state.db, fast.get_deferred_fields()) == (False, "default", set())
            for field in model._meta.concrete_fields:
                if field.is_relation:
                    assert getattr(fast, field.name) == getattr(made, field.name)
            checked.add(model.__name__)
    assert {"Agent", "Message", "Block", "Tool", "ApiKey", "Organization", "Run", "Step"} <= checked
    names = attnames(type(agent))
    partial = row_object(type(agent), "default", names[:3], [agent.id, agent.organization_id, agent.name])
    assert partial.name == agent.name and "system" in partial.get_deferred_fields()


def test_the_scripted_model_logs_how_long_it_took(scripted_llm):
    """`bench server` subtracts the model's own time, read from `elapsed_ms` in the request log."""
    import httpx

    scripted_llm.queue_text("Slow answer.", delay_ms=60)
    httpx.post(
        f"{scripted_llm.api_base}/chat/completions",
        json={"model": "scripted", "messages": [{"role": "user", "content": "hi"}]},
    ).raise_for_status()
    [entry] = scripted_llm.requests(None)
    assert entry["endpoint"] == "chat" and entry["elapsed_ms"] >= 60


def test_the_scripted_model_logs_when_a_stream_began(scripted_llm):
    """`bench server` times the first SSE event from the model's first chunk (`first_byte_at`, seconds since the
    epoch), logged when it was written: after the request's delay, before its end."""
    import time

    import httpx

    scripted_llm.queue_text("Streamed slowly.", delay_ms=50, pace_ms=20)
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    sent = time.time()
    with httpx.stream("POST", f"{scripted_llm.api_base}/chat/completions", json=body) as response:
        lines = [line for line in response.iter_lines() if line]
    ended = time.time()
    [entry] = scripted_llm.requests(None)
    assert lines[-1] == "data: [DONE]"
    assert sent + 0.05 <= entry["first_byte_at"] < ended - 0.02 and entry["elapsed_ms"] >= 70


@pytest.mark.django_db(transaction=True)
def test_closing_a_sqlite_connection_leaves_the_write_ahead_log_in_place():
    """ade/sqlite keeps one connection per database open, so a request's connection closing is not the last one
    (which would copy the log into the database and fsync at the end of every request)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    from accounts.models import Organization

    Organization.objects.create(name="Wal")
    connection.close()
    assert Path(f"{connection.settings_dict['NAME']}-wal").exists()
    assert Organization.objects.filter(name="Wal").exists()


def fill_every_relation(alice, api, agent):
    from agents.actions import update_agent

    path = f"/v1/agents/{agent.id}"
    folder = api.post("/v1/folders/", {"name": "docs"}).json()
    assert api.patch(f"{path}/folders/attach/{folder['id']}").status_code == 200
    block = api.post("/v1/blocks/", {"label": "project", "value": "Engram"}).json()
    identity = api.post(
        "/v1/identities/",
        {"identifier_key": "ada", "name": "Ada", "identity_type": "user", "block_ids": [block["id"]]},
    ).json()
    assert api.patch(f"{path}/identities/attach/{identity['id']}").status_code == 200
    assert api.patch(path, {"tags": ["b-tag", "a-tag"]}).status_code == 200
    update_agent(alice, agent.id, {"enable_sleeptime": True})
    return path, folder, block, identity


def test_responses_read_rows_as_ninja_would_without_its_getter(alice, alice_api, agent, monkeypatch):
    """ade/ninja_tuning.py reads a row or dict into its schema's fields in one pass, and answers a row's missing attribute at
    once (ninja's getter looked it up again as a template variable): the agent, its list, blocks, tools, folders and
    a run (schemas with resolvers) answer exactly what ninja's own getter gives, with no template lookup."""
    from django.template import base as template_base
    from ninja.schema import DjangoGetter

    from ade import ninja_tuning

    path, _folder, _block, _identity = fill_every_relation(alice, alice_api, agent)
    # The run fails (this agent's model has no key here): its error and stop reason come from resolvers.
    run = alice_api.post(f"{path}/messages/async", {"messages": [{"role": "user", "content": "hi"}]}).json()
    urls = [path, "/v1/agents/?limit=100", "/v1/blocks/?limit=100", "/v1/tools/?limit=100", "/v1/folders/"]
    urls.append(f"/v1/runs/{run['id']}")
    resolved = []
    real_resolve = template_base.Variable.resolve
    monkeypatch.setattr(
        template_base.Variable, "resolve", lambda self, c: resolved.append(self) or real_resolve(self, c)
    )
    ours = [alice_api.get(url).json() for url in urls]
    assert resolved == []
    monkeypatch.setattr(ninja_tuning, "_fields_to_read", lambda cls: None)  # every schema through ninja's getter
    monkeypatch.setattr(DjangoGetter, "__getattr__", ninja_tuning.ninja_getattr)
    assert [alice_api.get(url).json() for url in urls] == ours
    assert resolved  # ninja's getter did look the missing fields up as template variables
    assert ours[0]["blocks"][0]["project_id"] is None and ours[0]["blocks"][0]["preserve_on_migration"] is False
    assert ours[3] and all(tool["metadata_"] is not None for tool in ours[3])  # a resolver's answer


def test_one_agent_renders_from_its_prepared_relations_as_from_django_prefetch(alice, alice_api, agent, scripted_llm):
    """GET loads one agent's relations in queries compiled once per process (agents/api/render.py ONE_AGENT); the
    list loads a page through Django's prefetch_related. With every relation filled, both give the same state."""
    path, folder, block, identity = fill_every_relation(alice, alice_api, agent)

    got = alice_api.get(path).json()
    listed = alice_api.get("/v1/agents/", params={"limit": 100}).json()
    assert got == next(a for a in listed if a["id"] == agent.id)
    assert [b["label"] for b in got["blocks"]] == ["human", "persona"]
    assert got["tools"] and [s["id"] for s in got["sources"]] == [folder["id"]]
    assert sorted(got["tags"]) == ["a-tag", "b-tag"] and got["identity_ids"] == [identity["id"]]
    assert got["identities"][0]["block_ids"] == [block["id"]] and got["identities"][0]["agent_ids"] == [agent.id]
    group = got["managed_group"]
    assert group["manager_agent_id"] == agent.id and len(group["agent_ids"]) == 1  # its sleep-time companion


def test_the_warm_up_hands_over_once_it_is_over(scripted_llm):
    """ade/asgi.py shortens the GIL switch interval only after litellm's warm-up (`then`), which must run even
    when the warm-up itself fails."""
    import threading

    from agents.runtime import llm

    done = threading.Event()
    llm.warm_up(then=done.set)
    assert done.wait(60)
    llm.wait_for_warm_up()
    assert not llm._warming.is_set()


def test_a_prepared_query_takes_a_value_used_twice_and_refuses_one_it_cannot_swap(agent):
    """ade/prepared.py swaps each value into every parameter that carries it; a value Django rewrites on its way
    (here into a LIKE pattern) could not be swapped, so such a query is refused when first compiled."""
    from ade.prepared import Prepared
    from agents.models import Agent

    twice = Prepared(lambda a: Agent.objects.filter(id=a).filter(pk__in=Agent.objects.filter(id=a)).values_list("name"))
    assert twice.rows(agent.id) == [("hot-path",)] and twice.rows("agent-none") == []
    pattern = Prepared(lambda a: Agent.objects.filter(name__contains=a).values_list("id"))
    with pytest.raises(ValueError, match="whole parameters"):
        pattern.rows("hot")


def test_a_prepared_update_writes_what_queryset_update_writes(agent):
    """ade/prepared.py's UPDATE converts values as the fields do (JSON, dates, NULL) and matches rows on every WHERE
    value, JSON lists included (the in-context list swap): the row reads back as after QuerySet.update."""
    from django.utils import timezone

    from ade.prepared import PreparedUpdate
    from agents.models import Agent

    fields = ["message_ids", "last_run_completion", "last_stop_reason", "last_run_duration_ms", "metadata"]
    update = PreparedUpdate(Agent, fields, ["id", "message_ids"])
    old, when = list(agent.message_ids), timezone.now()
    changes = {
        "message_ids": [*old, "message-x"],
        "last_run_completion": when,
        "last_stop_reason": "end_turn",
        "last_run_duration_ms": None,
        "metadata": {"a": [1, "é"], "b": None},
    }
    assert update.run(changes, id=agent.id, message_ids=["message-not-the-list"]) == 0
    assert update.run(changes, id=agent.id, message_ids=old) == 1
    prepared = Agent.objects.values(*fields).get(id=agent.id)
    Agent.objects.filter(id=agent.id).update(message_ids=old)
    Agent.objects.filter(id=agent.id, message_ids=old).update(**changes)
    assert Agent.objects.values(*fields).get(id=agent.id) == prepared
    assert prepared["message_ids"][-1] == "message-x" and prepared["last_run_completion"] == when
    with pytest.raises(TypeError, match="other fields"):
        update.run({"message_ids": []}, id=agent.id, message_ids=old)


def test_a_prepared_insert_writes_what_bulk_create_writes(agent):
    """ade/prepared.py's INSERT fills in ids, defaults and timestamps as Django's insert does and stores every value
    as bulk_create stores it (JSON, NULL, text); past MAX_ROWS it is bulk_create."""
    from ade.prepared import PreparedInsert
    from agents.models import Message
    from memory.models import BlockHistory

    def rows(n):
        content = [{"type": "text", "text": "héllo ✓"}]
        calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        return [
            Message(organization_id=agent.organization_id, agent=agent, role="assistant", content=content,
                    tool_calls=calls if i % 2 else None, step_id=None, name=f"n{i}")
            for i in range(n)
        ]  # fmt: skip

    insert, fields = PreparedInsert(Message), [f.attname for f in Message._meta.concrete_fields]
    ours, django = insert.run(rows(3)), Message.objects.bulk_create(rows(3))
    assert all(m.id.startswith("message-") and not m._state.adding for m in ours)
    read = lambda batch: list(Message.objects.filter(id__in=[m.id for m in batch]).order_by("name").values(*fields))  # noqa: E731
    varying = ("id", "seq", "created_at", "updated_at")
    assert [{k: v for k, v in r.items() if k not in varying} for r in read(ours)] == [
        {k: v for k, v in r.items() if k not in varying} for r in read(django)
    ]
    assert all(r["seq"] and r["created_at"] for r in read(ours))
    many = insert.run(rows(PreparedInsert.MAX_ROWS + 1))
    assert Message.objects.filter(id__in=[m.id for m in many]).count() == PreparedInsert.MAX_ROWS + 1

    # A model the database numbers (an AutoField key): each object gets its own row's number back.
    block = agent.blocks.first()
    history = [BlockHistory(block=block, version=90 + i, actor_type="system", new={"i": i}) for i in range(3)]
    numbered = PreparedInsert(BlockHistory)
    numbered.run(history[:1]), numbered.run(history[1:2]), numbered.run(history[2:])  # the SQL is reused
    assert all(isinstance(h.pk, int) for h in history) and len({h.pk for h in history}) == 3
    assert [BlockHistory.objects.get(pk=h.pk).new for h in history] == [{"i": 0}, {"i": 1}, {"i": 2}]


@pytest.mark.parametrize("ascending", [True, False])
def test_a_prepared_first_page_of_messages_is_the_page_paginate_reads(alice_api, agent, scripted_llm, ascending):
    """GET /v1/agents/{id}/messages without cursors reads its page with a query compiled once per process; it
    gives the same rows, in the same order, with the same values, as the queryset `paginate` would run."""
    from ade.pagination import ordering
    from agents.models import Message
    from agents.queries import message_page

    for i in range(3):
        send(alice_api, agent, f"Message number {i}.")
    everything = Message.objects.filter(agent=agent)
    for limit in (1, 4, 100):
        expected = list(everything.order_by(*ordering("seq", ascending))[:limit])
        got = message_page(agent.id, "seq", ascending, limit)
        assert [m.id for m in got] == [m.id for m in expected] and len(got) == min(limit, everything.count())
        assert [vars(m) | {"_state": None} for m in got] == [vars(m) | {"_state": None} for m in expected]
    order = "asc" if ascending else "desc"
    listed = alice_api.get(f"/v1/agents/{agent.id}/messages?limit=4&order={order}").json()
    after = alice_api.get(f"/v1/agents/{agent.id}/messages?limit=4&order={order}&after={listed[-1]['id']}").json()
    ids = [m["id"] for m in listed + after]
    assert len(ids) == len(set(ids)) and ids[0] in {m.id for m in everything}


@pytest.mark.parametrize("batch", [256, 4])
def test_messages_by_id_reads_what_the_orm_reads_for_any_count(alice_api, agent, scripted_llm, monkeypatch, batch):
    """A turn reads its new in-context rows with a query compiled once per count (agents.queries.messages_by_id),
    and a long context in batches of one shape (small batches here, so that several and a padded last one run)."""
    from agents import queries
    from agents.models import Message
    from agents.queries import messages_by_id

    monkeypatch.setattr(queries, "_ID_BATCH", batch)
    for i in range(5):
        send(alice_api, agent, f"Message number {i}.")
    ids = list(Message.objects.filter(agent=agent).values_list("id", flat=True))
    assert len(ids) >= 10
    for count in (1, 2, 3, 8, 9, len(ids)):
        wanted = ids[:count]
        got = sorted(messages_by_id(wanted), key=lambda m: m.id)
        expected = sorted(Message.objects.filter(id__in=wanted), key=lambda m: m.id)
        assert [vars(m) | {"_state": None} for m in got] == [vars(m) | {"_state": None} for m in expected]
    assert messages_by_id([]) == [] and [m.id for m in messages_by_id([ids[0], ids[0]])] == [ids[0]]
    assert messages_by_id(["message-00000000-0000-4000-8000-000000000000"]) == []


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"agent_type": "memgpt_agent", "tags": ["t"]},  # a boot exchange in context
        {"initial_message_sequence": [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Yo."}]},
        {"shared_block": True},
        {"folder": True},
    ],
)
def test_a_new_agent_s_system_message_is_what_a_full_compile_gives(alice, alice_api, extra):
    """Create compiles the system prompt from what it has just written instead of reading it back (with folders,
    it reads them): the text must be what a full compile of the stored agent gives at the same moment."""
    from agents.models import Agent, Message
    from memory.context import _RECOMPILED_RE, compile_system_prompt

    body = {
        "name": "fresh",
        "memory_blocks": [{"label": "human", "value": "Ada."}, {"label": "persona", "value": "Kind."}],
    }
    body.update({k: v for k, v in extra.items() if k not in ("shared_block", "folder")})
    if extra.get("shared_block"):
        block = alice_api.post("/v1/blocks/", {"label": "project", "value": "Zephyr-42", "limit": 500}).json()
        body["block_ids"] = [block["id"]]
    if extra.get("folder"):
        folder = alice_api.post("/v1/folders/", {"name": "docs"}).json()
        body["folder_ids"] = [folder["id"]]
    r = alice_api.post("/v1/agents/", body)
    assert r.status_code == 200, r.content
    agent = Agent.objects.get(id=r.json()["id"])
    stored = Message.objects.get(id=agent.message_ids[0]).text
    assert "Ada." in stored and "Kind." in stored and ("Zephyr-42" in stored) == bool(extra.get("shared_block"))
    assert stored == compile_system_prompt(agent, compiled_at=_RECOMPILED_RE.search(stored).group(1))
