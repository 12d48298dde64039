"""What `bench server` measures on a running server, and the table it prints.

Every operation is timed from the client over HTTP. For operations that call the model, the server's own time is
the wall time minus what the scripted model logged for the same requests (`ScriptedModel.spent_ms`). The server's
CPU time per request (utime + stime of its processes over the phase) is printed beside each, since it hardly moves
when other programs share the machine.
"""

import json
import time
import uuid
from dataclasses import dataclass, field

# (label, goal in ms or MiB, Letta reference) per row; goals from the speed issue, references measured side by side.
ROWS = {
    "message": ("send a message (one model call)", 8, 137),
    "memory_message": ("send with a memory tool call (two calls)", 15, None),
    "stream_first_event": ("SSE: first event after the model's first byte", 3, None),
    "stream_first_token": ("SSE: first token after the model's first byte", 5, None),
    "stream_own": ("SSE: first event, own time since the request", None, 60),
    "create": ("agent create (two blocks)", 4, 28),
    "get": ("GET one agent", 2, None),
    "list": ("list 60 messages", 3, None),
    "insert_scripted": ("archival insert, external embedder", 5, 52),
    "insert_local": ("archival insert, MiniLM in the server", None, None),
}
WARM_UP = 5  # requests of each kind before measuring (the first ones import litellm and load MiniLM)
SETTLE_SECONDS = 2.0  # let the load's last work finish before reading RSS


@dataclass
class Figures:
    label: str
    startup_ms: float = 0.0
    first_message_ms: float = 0.0
    first_message_idle_ms: float = 0.0  # after a restart, once the server is idle (its warm-up over)
    ops: dict[str, list[float]] = field(default_factory=dict)  # operation -> own ms per request
    cpu_ms: dict[str, float] = field(default_factory=dict)  # operation -> server CPU ms per request
    idle_mib: float = 0.0
    turns_mib: float = 0.0  # after the turns, creates and reads: before anything embeds with MiniLM in the server
    loaded_mib: float = 0.0


def measure_all(server, model, figures: Figures, args, out) -> None:
    # As a user who starts the server and talks to it at once: litellm's warm-up import is still running.
    agent = create_agent(server, "local/all-minilm-l6-v2")
    model.reset()
    wall, _ = server.call("POST", f"/v1/agents/{agent}/messages", json=_message("Hello!"))
    figures.first_message_ms = wall - model.spent_ms()
    _wait_until_idle(server)
    figures.idle_mib = server.rss_mib()
    out.write(
        f"  {figures.label}: healthy {figures.startup_ms:.0f} ms after start, idle RSS {figures.idle_mib:.0f} MiB"
    )
    n, k, some = args.messages, args.inserts, min(args.messages, 100)
    memory_agent = create_agent(server, "local/all-minilm-l6-v2")
    other = create_agent(server, "engram/scripted-embed")
    phases = {
        "message": (n, lambda i: _send(server, agent, f"Tell me about the number {i}.")),
        "memory_message": (some, lambda i: _send(server, memory_agent, f"My name is Bench{i}.")),
        "create": (some, lambda i: create_agent(server, "local/all-minilm-l6-v2")),
        "get": (n, lambda i: server.call("GET", f"/v1/agents/{agent}")),
        "list": (n, lambda i: server.call("GET", f"/v1/agents/{agent}/messages", params={"limit": 60})),
        "insert_local": (k, lambda i: _insert(server, agent, i)),
        "insert_scripted": (k, lambda i: _insert(server, other, i)),
    }
    for name, (count, request) in phases.items():
        if name == "insert_local":  # MiniLM's weights and tokenizer load with the first local embedding
            time.sleep(SETTLE_SECONDS)
            figures.turns_mib = server.rss_mib()
        _phase(figures, name, server, model, count, request)
    stream = [_stream(server, model, agent, i) for i in range(WARM_UP + some)][WARM_UP:]
    for i, name in enumerate(("stream_first_event", "stream_first_token", "stream_own")):
        figures.ops[name] = [times[i] for times in stream]
    time.sleep(SETTLE_SECONDS)
    figures.loaded_mib = server.rss_mib()
    # As a user who restarts the server and comes back to an agent a little later: the warm-up is over.
    server.restart()
    _wait_until_idle(server)
    model.reset()
    wall, _ = server.call("POST", f"/v1/agents/{agent}/messages", json=_message("Hello again!"))
    figures.first_message_idle_ms = wall - model.spent_ms()


def _wait_until_idle(server, quiet_ms: float = 20.0, window: float = 0.5, longest: float = 60.0) -> None:
    """Until the server uses less than `quiet_ms` of CPU in `window` seconds: its start-up work (litellm's warm-up
    import, seconds long) is over, so the RSS read next is the idle process's (read at a fixed delay, it came
    mid-import)."""
    deadline, before = time.monotonic() + longest, server.cpu_ms()
    while time.monotonic() < deadline:
        time.sleep(window)
        now = server.cpu_ms()
        if now - before < quiet_ms:
            return
        before = now


def _phase(figures: Figures, name: str, server, model, count: int, request) -> None:
    """Warm up, then time `count` calls of `request(i)`: own ms = wall - the model's logged time."""
    for i in range(WARM_UP):
        request(-1 - i)
    model.reset()
    before, own = server.cpu_ms(), []
    for i in range(count):
        started = time.perf_counter()
        request(i)
        own.append((time.perf_counter() - started) * 1000 - model.spent_ms())
    figures.ops[name] = own
    figures.cpu_ms[name] = (server.cpu_ms() - before) / count


def create_agent(server, embedding: str) -> str:
    _, body = server.call(
        "POST",
        "/v1/agents/",
        json={
            "name": f"bench-{uuid.uuid4().hex[:6]}",
            "model": "engram/scripted",
            "embedding": embedding,
            "memory_blocks": [
                {"label": "human", "value": "The user is benchmarking this server."},
                {"label": "persona", "value": "I am a helpful assistant who answers briefly."},
            ],
        },
    )
    return body["id"]


def _message(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def _send(server, agent: str, text: str) -> None:
    _, body = server.call("POST", f"/v1/agents/{agent}/messages", json=_message(text))
    if body["stop_reason"]["stop_reason"] != "end_turn":
        raise RuntimeError(f"a message ended with {body['stop_reason']}")


def _insert(server, agent: str, i: int) -> None:
    text = f"Fact {i}: the benchmark stored passage number {i} about topic {i % 17}."
    server.call("POST", f"/v1/agents/{agent}/archival-memory", json={"text": text, "tags": [f"t{i % 5}"]})


def _stream(server, model, agent: str, i: int) -> tuple[float, float, float]:
    """A token stream's (first SSE event, first token) in ms after the model wrote its first chunk (the scripted
    model logs when, on the same clock), and the first event's time since the request minus all of the model's time
    (the server's own time before it: the turn's set-up and the model call's overhead)."""
    model.reset()
    body = {**_message(f"Stream number {i}, please."), "stream_tokens": True, "include_pings": False}
    started, sent_at, first, token = time.perf_counter(), time.time(), None, None
    with server.http.stream("POST", f"/v1/agents/{agent}/messages/stream", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            now = (time.perf_counter() - started) * 1000
            first = first if first is not None else now
            if token is None and json.loads(line[6:]).get("message_type") == "assistant_message":
                token = now
    [entry] = model.requests()
    first_byte = (entry["first_byte_at"] - sent_at) * 1000  # since the request, on the client's clock
    token = token if token is not None else first
    return first - first_byte, token - first_byte, first - entry["elapsed_ms"]


# ---------------------------------------------------------------------------------------------------------------
# The table


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def report(results: list[Figures], out) -> None:
    width = max([24] + [len(r.label) + 4 for r in results])
    head = f"{'':<46}" + "".join(f"{r.label:>{width}}" for r in results) + f"{'goal':>10}{'Letta':>10}"
    out.write("")
    out.write(head + "\n" + "-" * len(head))

    def row(label, cells, goal="", ref=""):
        out.write(f"{label:<46}" + "".join(f"{c:>{width}}" for c in cells) + f"{goal:>10}{ref:>10}")

    for key, (label, goal, ref) in ROWS.items():
        row(
            f"{label}",
            [f"{pct(r.ops[key], 0.5):.1f} / {pct(r.ops[key], 0.95):.1f} ms" for r in results],
            f"≤ {goal} ms" if goal else "",
            f"{ref} ms" if ref else "",
        )
        if key in results[0].cpu_ms:
            row("    server CPU per request", [f"{r.cpu_ms[key]:.1f} ms" for r in results])
    row("first message after start-up", [f"{r.first_message_ms:.0f} ms" for r in results], "≤ 200 ms")
    row("first message, restarted, warm-up over", [f"{r.first_message_idle_ms:.0f} ms" for r in results], "≤ 200 ms")
    row("start-up to healthy", [f"{r.startup_ms:.0f} ms" for r in results], "≤ 1000 ms")
    row("RSS idle after start-up (warm-up done)", [f"{r.idle_mib:.0f} MiB" for r in results], "≤ 120 MiB", "~490 MiB")
    row("RSS after the turns (MiniLM not loaded)", [f"{r.turns_mib:.0f} MiB" for r in results], "≤ 250 MiB")
    row("RSS after the load (MiniLM in the server)", [f"{r.loaded_mib:.0f} MiB" for r in results])
    out.write("")
    out.write(
        "Cells are p50 / p95. Own time = client wall time minus the scripted model's logged time (elapsed_ms) for the "
        "same requests. RSS = VmRSS of the server process and its children (and workers, if any). `--messages 1000` "
        "gives the RSS after 1,000 turns, taken before the archival inserts load MiniLM into the server."
    )
