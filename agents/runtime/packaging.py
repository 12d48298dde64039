"""The text formats of automated messages (behaviour spec §1.8, §5.5): packaged JSON with the agent's time."""

import json

from memory.context import format_time

NON_USER_MSG_PREFIX = "[This is an automated system message hidden from the user] "
HEARTBEAT_REASON = NON_USER_MSG_PREFIX + "Function called using request_heartbeat=true, returning control"
FAILED_REASON = NON_USER_MSG_PREFIX + "Function call failed, returning control"
DENIED_REASON = NON_USER_MSG_PREFIX + "Continuing: user denied request to call tool."
VIOLATION_REASON = NON_USER_MSG_PREFIX + "Continuing: tool rule violation."
CHILD_RULE_REASON = NON_USER_MSG_PREFIX + "Continuing: child tool rule."
CONTINUE_RULE_REASON = NON_USER_MSG_PREFIX + "Continuing: continue tool rule."
KEEP_ALIVE = (
    "<system-alert>Automated keep-alive ping. Ignore this message and continue from where you stopped.</system-alert>"
)


def packaged(obj: dict) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def tool_return_text(ok: bool, message, tz: str) -> str:
    """A tool message's text: status OK/Failed, the return (a dict stays an object), the time."""
    return packaged({"status": "OK" if ok else "Failed", "message": message, "time": format_time(tz=tz)})


def heartbeat_text(reason: str, tz: str) -> str:
    return packaged({"type": "heartbeat", "reason": reason, "time": format_time(tz=tz)})


def user_message_text(message: str, tz: str, name: str | None = None) -> str:
    """Legacy packaging used for initial-sequence user messages."""
    body = {"type": "user_message", "message": message, "time": format_time(tz=tz)}
    if name:
        body["name"] = name
    return packaged(body)


def login_text(tz: str) -> str:
    return packaged({"type": "login", "last_login": "Never (first login)", "time": format_time(tz=tz)})


def system_alert_text(message: str, tz: str, stats: dict | None = None) -> str:
    body = {"type": "system_alert", "message": message, "time": format_time(tz=tz)}
    if stats:
        body["compaction_stats"] = stats
    return packaged(body)


def required_tools_reason(names: list[str]) -> str:
    return NON_USER_MSG_PREFIX + f"Continuing, user expects these tools: [{', '.join(names)}] to be called still."


def must_call_reason(names: list[str]) -> str:
    return NON_USER_MSG_PREFIX + f"ToolRuleViolated: You must call {', '.join(names)} at least once to exit the loop."


def denial_text(reason: str | None) -> str:
    return f"Error: request to call tool denied. User reason: {reason}"


def text_parts(text: str) -> list[dict]:
    return [{"type": "text", "text": text}]
