"""The program a sandboxed tool runs in (started by tools/sandbox.py as `python -I -c <this source> FD`).

Standard library only, no Engram imports: this process must know nothing of the server. tools/sandbox.py
prepends the source of tools/sandbox_limits.py (apply_limits).
Protocol: one JSON object on stdin {"source", "name", "args", "limits"}; one JSON object written to file
descriptor FD: {"status": "success", "value": ...} or {"status": "error", "type", "message", "traceback"}.
"""

import asyncio
import inspect
import json
import os
import sys
import textwrap
import traceback

RUNNER_FILE = globals().get("__file__", "<string>")  # started with -c: no file


def jsonable(value):
    """The return value as JSON; anything JSON cannot hold travels as its str()."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def call_tool(payload: dict):
    namespace = {"__name__": "__tool__"}
    exec(compile(textwrap.dedent(payload["source"]), "<tool>", "exec"), namespace)  # noqa: S102 - this process is the sandbox
    func = namespace.get(payload["name"])
    if not callable(func):
        raise NameError(f"the source defines no function named {payload['name']!r}")
    value = func(**payload["args"])
    if inspect.isawaitable(value):
        value = asyncio.run(value)
    return value


def error_result(exc: BaseException, limits: dict) -> dict:
    message = str(exc)
    if isinstance(exc, MemoryError) and not message:
        message = f"out of memory (the limit is {limits['memory_mb']} MB)"
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == RUNNER_FILE:
        tb = tb.tb_next  # the runner's own frames say nothing about the tool
    lines = traceback.format_exception(type(exc), exc, tb)
    return {"status": "error", "type": type(exc).__name__, "message": message, "traceback": "".join(lines[-20:])}


def main() -> None:
    result_fd = int(sys.argv[1])
    os.set_inheritable(result_fd, False)
    payload = json.loads(sys.stdin.buffer.read())
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the tool must not wait on our stdin
    apply_limits(payload["limits"])  # noqa: F821 - prepended from tools/sandbox_limits.py
    try:
        result = {"status": "success", "value": jsonable(call_tool(payload))}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are the tool's errors too
        result = error_result(exc, payload["limits"])
    sys.stdout.flush()
    sys.stderr.flush()
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
