"""The agent runtime's own cost, on the configured database, with the scripted model at zero latency.

* server overhead per step: wall time of a turn (record the run, run the loop, write, publish) minus the time
  spent inside the model call, for plain-reply steps and for tool steps (conversation_search);
* context compile time for an agent with 8 blocks and 200 in-context messages (system prompt from the database,
  and the whole provider request: system prompt + 200 messages);
* tokens sent per step for a default agent, by part.

Everything it creates lives in a throwaway organization that is deleted at the end.
"""

import argparse
import os
import time
import uuid

from django.conf import settings
from django.db import connection

TARGETS = {"sqlite": 10.0, "postgresql": 15.0}
COMPILE_TARGET_MS = 2.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def line(out, label: str, values_ms: list[float], target: float | None = None) -> None:
    goal = f"   (target p50 ≤ {target:g} ms)" if target else ""
    out.write(f"  {label:<52} p50 {pct(values_ms, 0.5):7.2f} ms   p95 {pct(values_ms, 0.95):7.2f} ms{goal}")


def run(argv, out) -> None:
    parser = argparse.ArgumentParser(prog="manage.py bench runtime")
    parser.add_argument("--steps", type=int, default=200, help="steps measured per figure (default 200)")
    args = parser.parse_args(argv)
    from agents.scripted.server import ScriptedClient, ScriptedServer

    server = ScriptedServer(pace_ms=0).start()
    previous = settings.SCRIPTED_LLM_URL
    settings.SCRIPTED_LLM_URL = server.url
    client = ScriptedClient(server.url, server.control_token)
    user, org = _owner()
    vendor = connection.vendor
    out.write(
        f"Engram runtime benchmark — database: {vendor} ({settings.DATABASES['default']['NAME']}), "
        f"scripted model at zero latency, {args.steps} steps per figure, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    try:
        _count_model_cpu()
        _warm_up(user, client)
        out.write("server overhead per step (wall time minus model time):")
        overheads, cpu = _reply_overheads(user, client, args.steps)
        line(out, "plain reply steps", overheads, TARGETS.get(vendor))
        line(out, "  of which server CPU (this thread, outside model calls)", cpu)
        line(out, "tool steps (conversation_search, then reply)", _tool_overheads(user, client, args.steps))
        out.write("context compile (8 blocks, 200 in-context messages):")
        prompt_ms, request_ms = _compile_times(user, args.steps)
        line(out, "system prompt from the database", prompt_ms, COMPILE_TARGET_MS)
        line(out, "whole request (system prompt + 200 messages)", request_ms)
        _tokens_per_step(user, client, out)
        out.write(f"load average at the end: {os.getloadavg()[0]:.1f} (figures grow with other work on the machine)")
    finally:
        settings.SCRIPTED_LLM_URL = previous
        client.close()
        server.stop()
        _cleanup(user, org)


def _owner():
    from accounts.actions import create_user

    user = create_user(f"bench-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex, org_name="Engram benchmark")
    return user, user.organization


def _cleanup(user, org) -> None:
    from agents.models import Agent

    Agent.objects.filter(organization=org).delete()
    user.delete()
    org.delete()


_model_cpu_ns = [0]


def _count_model_cpu():
    """Wrap the LLM client so the CPU this thread spends inside model calls (litellm, HTTP) is known."""
    from agents.runtime import llm

    inner = llm.complete
    if getattr(inner, "_bench", False):
        return

    def complete(*args, **kwargs):
        started = time.thread_time_ns()
        try:
            return inner(*args, **kwargs)
        finally:
            _model_cpu_ns[0] += time.thread_time_ns() - started

    complete._bench = True
    llm.complete = complete


def _turn(user, agent, text: str, cpu: list | None = None) -> tuple[float, int]:
    """(wall ms of one turn, model ns inside it); appends the server's own CPU ms (this thread) to `cpu`."""
    from agents.models import Step
    from agents.runs import execute, start_turn

    started, cpu_started, model_cpu = time.perf_counter(), time.thread_time_ns(), _model_cpu_ns[0]
    run = start_turn(user, agent.id, [{"role": "user", "content": text}])
    execute(run.id)
    wall = (time.perf_counter() - started) * 1000
    if cpu is not None:
        cpu.append((time.thread_time_ns() - cpu_started - (_model_cpu_ns[0] - model_cpu)) / 1e6)
    model_ns = sum(Step.objects.filter(run_id=run.id).values_list("llm_request_ns", flat=True))
    return wall, model_ns


def _warm_up(user, client) -> None:
    from agents.actions import create_agent

    agent = create_agent(user, {"name": "warm-up"})
    for _ in range(3):
        client.queue_text("ok")
        _turn(user, agent, "hello")


def _reply_overheads(user, client, steps: int) -> tuple[list[float], list[float]]:
    from agents.actions import create_agent

    agent = create_agent(user, {"name": "reply-bench"})
    overheads, cpu = [], []
    for i in range(steps):
        client.queue_text(f"reply {i}")
        wall, model_ns = _turn(user, agent, f"message {i}", cpu)
        overheads.append(wall - model_ns / 1e6)
    return overheads, cpu


def _tool_overheads(user, client, steps: int) -> list[float]:
    from agents.actions import create_agent

    agent = create_agent(user, {"name": "tool-bench"})
    overheads = []
    for i in range(max(steps // 2, 1)):
        client.queue_tool_call("conversation_search", {"query": f"message {i}"})
        client.queue_text("done")
        wall, model_ns = _turn(user, agent, f"find {i}")
        overheads += [(wall - model_ns / 1e6) / 2] * 2
    return overheads


def _compile_times(user, repeats: int) -> tuple[list[float], list[float]]:
    from agents.actions import create_agent
    from agents.models import Agent, Message
    from agents.runtime.llm import chat_messages
    from agents.runtime.packaging import text_parts
    from memory.context import compile_system_prompt

    blocks = [{"label": f"block{i}", "value": ("A fact worth keeping. " * 20).strip()} for i in range(8)]
    agent = create_agent(user, {"name": "compile-bench", "memory_blocks": blocks})
    rows = [
        Message(
            organization_id=agent.organization_id,
            agent=agent,
            role=("user", "assistant")[i % 2],
            content=text_parts(f"message number {i} with a few words of content"),
        )
        for i in range(200)
    ]
    Message.objects.bulk_create(rows)
    agent.message_ids = agent.message_ids[:1] + [r.id for r in rows]
    agent.save(update_fields=["message_ids"])
    prompt_ms, request_ms = [], []
    for _ in range(repeats):
        agent = Agent.objects.get(id=agent.id)
        started = time.perf_counter()
        system = compile_system_prompt(agent)
        prompt_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        context = list(Message.objects.filter(id__in=agent.message_ids))
        chat_messages(context, agent, system_text=system)
        request_ms.append((time.perf_counter() - started) * 1000 + prompt_ms[-1])
    return prompt_ms, request_ms


def _tokens_per_step(user, client, out) -> None:
    from agents.actions import create_agent
    from memory.tokens import count_message_tokens, count_tokens, count_tool_tokens

    agent = create_agent(
        user,
        {
            "name": "tokens-bench",
            "memory_blocks": [
                {"label": "persona", "value": "I am a helpful assistant."},
                {"label": "human", "value": ""},
            ],
        },
    )
    client.reset()
    client.queue_text("Hello!")
    _turn(user, agent, "hello")
    body = client.last_request()
    model = body.get("model")
    system = count_tokens(body["messages"][0]["content"], model)
    messages = count_message_tokens(body["messages"], model)
    tools = count_tool_tokens(body.get("tools"), model)
    out.write("tokens sent per step, default agent (letta_v1, persona + human blocks, first message):")
    out.write(
        f"  total {messages + tools}   = system prompt {system} + other messages and framing "
        f"{messages - system} + tool schemas {tools} ({len(body.get('tools') or [])} tools)"
    )
