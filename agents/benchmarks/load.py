"""Turns on real Celery workers under load.

    python manage.py bench load --agents 50 --messages 10 --model-latency-ms 200 --workers 2
    python manage.py bench load --http ...   # through the REST API of a daphne web server, as clients do

Needs REDIS_URL. Starts `--workers` Celery worker processes (and the scripted model, answering every request
after `--model-latency-ms`), then `--agents` simulated users each send `--messages` messages to their own agent,
one after another, all users at once (with `--http` over HTTP to a daphne subprocess, each user with the
blocking `POST /v1/agents/{id}/messages`; otherwise through agents.runs in this process). Prints throughput, turn latency as the user sees it (queue wait +
execution), and the server's overhead above the model's latency. Then checks the database: every turn
completed, and every agent holds exactly its messages and replies, in order, none lost or duplicated.
One warm-up turn per worker runs first and is not counted. Everything lives in a throwaway organization that
is deleted at the end.
"""

import argparse
import os
import tempfile
import threading
import time
import uuid

import numpy as np
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection

REPLY = "Noted."


def run(argv, out) -> None:
    parser = argparse.ArgumentParser(prog="manage.py bench load")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10, help="messages per agent, sent one after another")
    parser.add_argument("--model-latency-ms", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes to start")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="task processes per worker (prefork, as docker-compose starts them); 1 = a solo worker",
    )
    parser.add_argument("--http", action="store_true", help="drive the REST API of a daphne web server")
    args = parser.parse_args(argv)
    if not settings.REDIS_URL:
        raise CommandError("bench load needs REDIS_URL (a Redis for the broker, the channel layer and run events)")
    from ade.celery import set_eager
    from agents.scripted.server import ScriptedClient, ScriptedServer

    set_eager(False)
    server = ScriptedServer(pace_ms=0).start()
    model = ScriptedClient(server.url, server.control_token)
    model.queue(*[{"text": REPLY, "delay_ms": args.model_latency_ms}] * (args.agents * args.messages + args.workers))
    user = _owner()
    workers = _start_workers(args, server.url)
    web = _start_web(server.url) if args.http else None
    out.write(
        f"Engram load benchmark: {args.agents} agents × {args.messages} messages, model latency "
        f"{args.model_latency_ms} ms, {args.workers} workers × {args.concurrency}, {connection.vendor}"
        + (", over HTTP" if web else "")
    )
    try:
        send = _http_sender(user, web[1]) if web else _send_turn
        agents = _agents(user, args.agents)
        _send_all(user, _agents(user, args.workers, prefix="warm-up"), 1, send)  # first turns load code and caches
        started = time.perf_counter()
        latencies, errors = _send_all(user, agents, args.messages, send)
        wall = time.perf_counter() - started
        _report(out, args, agents, latencies, errors, wall)
    finally:
        if web:
            web[0].terminate()
            web[0].wait(timeout=30)
        workers.stop()
        model.close()
        server.stop()
        _cleanup(user)


def _owner():
    from accounts.actions import create_user

    return create_user(f"load-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex, org_name="Engram load benchmark")


def _cleanup(user) -> None:
    from agents.models import Agent

    org = user.organization
    Agent.objects.filter(organization=org).delete()
    user.delete()
    org.delete()


def _start_workers(args, model_url: str):
    from ade.local_workers import WorkerPool

    pool_args = ("-P", "solo") if args.concurrency == 1 else ("-P", "prefork", "-c", str(args.concurrency))
    env = {
        **os.environ,
        "CELERY_EAGER": "0",
        "SCRIPTED_LLM_URL": model_url,
        "SCRIPTED_LLM_AUTOSTART": "0",
        "DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
        "LOG_LEVEL": "WARNING",
    }
    pool = WorkerPool(tempfile.mkdtemp(prefix="engram-load-"), env, pool_args=pool_args)
    pool.start(args.workers)
    return pool


def _start_web(model_url: str):
    """daphne on a free port, on this database and Redis, handing turns to the workers: (process, base URL)."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CELERY_EAGER": "0",
        "SCRIPTED_LLM_URL": model_url,
        "SCRIPTED_LLM_AUTOSTART": "0",
        "DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
    }
    log = open(os.path.join(tempfile.mkdtemp(prefix="engram-load-web-"), "web.log"), "wb")
    cmd = [sys.executable, "-m", "ade.serve", "-b", "127.0.0.1", "-p", str(port), "ade.asgi:application"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise CommandError(f"the web server did not start (log: {log.name})")
        time.sleep(0.2)


def _send_turn(user, agent, text: str):
    """In this process: record, submit, wait. Returns the finished Run."""
    from agents import runs

    run = runs.start_turn(user, agent.id, [{"role": "user", "content": text}])
    runs.submit(run)
    connection.close()  # back to the pool while waiting: there are more users than pooled connections
    return runs.wait(run.id, timeout=300)


def _http_sender(user, url: str):
    """Send a turn as a client does: the blocking POST of the REST API. Returns the finished Run."""
    import httpx

    from accounts.actions import create_api_key
    from agents.models import Run

    headers = {"Authorization": f"Bearer {create_api_key(user, 'bench load')[1]}"}

    def send(_user, agent, text: str):
        body = {"messages": [{"role": "user", "content": text}]}
        response = httpx.post(f"{url}/v1/agents/{agent.id}/messages", json=body, headers=headers, timeout=300)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        return Run.objects.filter(agent=agent, input__0__content=text).order_by("-created_at").first()

    return send


def _agents(user, count: int, prefix: str = "load") -> list:
    from agents.actions import create_agent

    return [
        create_agent(user, {"name": f"{prefix}-{i}", "memory_blocks": [{"label": "human", "value": ""}]})
        for i in range(count)
    ]


def _send_all(user, agents, messages: int, send):
    """One thread per simulated user; each sends its messages one after another and waits for each reply."""
    latencies, errors, lock = [], [], threading.Lock()

    def converse(agent) -> None:
        try:
            for i in range(messages):
                sent = time.perf_counter()
                done = send(user, agent, f"message {i}")
                connection.close()
                with lock:
                    latencies.append(time.perf_counter() - sent)
                    if done.status != "completed":
                        errors.append(f"{agent.name} message {i}: run {done.status}: {done.error}")
        except Exception as exc:  # report, keep the other users going
            with lock:
                errors.append(f"{agent.name}: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=converse, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def _report(out, args, agents, latencies, errors, wall: float) -> None:
    from agents.models import Run

    turns = Run.objects.filter(agent__in=agents)
    rows = list(turns.values_list("created_at", "started_at", "completed_at"))
    waits = [(s - c).total_seconds() for c, s, _ in rows if s]
    execution = [(d - s).total_seconds() for _, s, d in rows if s and d]
    model_s = args.model_latency_ms / 1000
    out.write(f"  throughput: {len(latencies) / wall:.1f} turns/s ({len(latencies)} turns in {wall:.1f} s)")
    _line(out, "turn latency (send → reply)", latencies)
    _line(out, "queue wait (recorded → started)", waits)
    _line(out, "execution on a worker", execution)
    _line(out, f"overhead above the model's {args.model_latency_ms} ms", [e - model_s for e in execution])
    lost, duplicated = _lost_and_duplicated(agents, args.messages)
    out.write(f"  lost messages: {lost}   duplicated messages: {duplicated}")
    problems = errors + _check_messages(agents, args.messages)
    if problems:
        for problem in problems[:20]:
            out.write(f"  PROBLEM: {problem}")
        raise CommandError(f"{len(problems)} problem(s): errors or lost/duplicated messages")
    out.write(
        f"  checked: {len(rows)} runs completed, 0 errors; every agent holds {args.messages} messages and "
        f"{args.messages} replies in order (none lost or duplicated)"
    )


def _line(out, label: str, seconds: list[float]) -> None:
    ms = np.array(seconds) * 1000
    out.write(f"  {label:<42} p50 {np.percentile(ms, 50):8.1f} ms   p95 {np.percentile(ms, 95):8.1f} ms")


def _lost_and_duplicated(agents, messages: int) -> tuple[int, int]:
    """Of the messages the users sent: how many are not stored, and how many extra copies are."""
    from agents.models import Message

    lost = duplicated = 0
    for agent in agents:
        texts = [m.text for m in Message.objects.filter(agent=agent, role="user")]
        for i in range(messages):
            copies = texts.count(f"message {i}")
            lost += copies == 0
            duplicated += max(copies - 1, 0)
    return lost, duplicated


def _check_messages(agents, messages: int) -> list[str]:
    """Database counts: each agent's messages are exactly its inputs and one reply each, alternating, in order."""
    from agents.models import Message, Run

    problems = []
    expected = []
    for i in range(messages):
        expected += [("user", f"message {i}"), ("assistant", REPLY)]
    for agent in agents:
        agent.refresh_from_db()
        rows = list(Message.objects.filter(agent=agent).exclude(role="system").order_by("seq"))
        got = [(m.role, m.text) for m in rows]
        if got != expected:
            problems.append(f"{agent.name}: messages {got[:6]}... differ from the {len(expected)} expected")
        if len(agent.message_ids) != 1 + 2 * messages:
            problems.append(f"{agent.name}: {len(agent.message_ids)} messages in context, expected {1 + 2 * messages}")
        statuses = list(Run.objects.filter(agent=agent).values_list("status", flat=True))
        if statuses.count("completed") != messages or len(statuses) != messages:
            problems.append(f"{agent.name}: runs {statuses}")
    return problems
