"""A tool call's outcome, and how its return value becomes what the model sees (spec behaviour §2.10)."""

import json
import math
from dataclasses import dataclass, field

MAX_ERROR_MESSAGE_CHARS = 1000


@dataclass
class ToolResult:
    status: str  # "success" | "error"
    func_return: str | dict | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @classmethod
    def error(cls, message: str, *, stdout=None, stderr=None) -> "ToolResult":
        return cls("error", clip_error(message), list(stdout or []), list(stderr or []))

    def as_dict(self) -> dict:
        """The ToolExecutionResult wire shape (letta-api §4.11)."""
        return {"status": self.status, "func_return": self.func_return, "stdout": self.stdout, "stderr": self.stderr}


def clip_error(message: str) -> str:
    return message if len(message) <= MAX_ERROR_MESSAGE_CHARS else message[:MAX_ERROR_MESSAGE_CHARS]


def error_text(function_name: str, exc_type: str, message: str) -> str:
    """The one wording of a failed call, for the model and for stderr."""
    return clip_error(f"Error executing function {function_name}: {exc_type}: {message}")


def format_return(value) -> str | dict:
    """Dicts stay objects (packaged as JSON), None becomes "None", everything else its str(). NaN and infinities
    inside a dict become the strings "NaN", "Infinity", "-Infinity": JSON has no such numbers."""
    if isinstance(value, dict):
        return _finite(value)
    return "None" if value is None else str(value)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def clip_return(value: str | dict, limit: int) -> str | dict:
    """Cut a return longer than the tool's `return_char_limit`, saying so at the end."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= limit:
        return value
    return (
        f"{text[:limit]}... [NOTE: function output was truncated since it exceeded the character limit: "
        f"{len(text)} > {limit}]"
    )


def finish(result: ToolResult, limit: int) -> ToolResult:
    """A successful result's return, formatted and clipped as the model will see it."""
    if result.ok:
        result.func_return = clip_return(format_return(result.func_return), limit)
    return result
