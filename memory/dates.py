"""Date filters and timestamps as the memory tools read and show them, in the agent's timezone."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ade.errors import Invalid


def agent_timezone(agent) -> ZoneInfo:
    try:
        return ZoneInfo(getattr(agent, "timezone", None) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_bound(value: str | None, name: str, tz: ZoneInfo, *, end: bool = False) -> datetime | None:
    """A start/end filter: ISO 8601 or YYYY-MM-DD. A date-only end covers the whole day; naive means `tz`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"Invalid {name} format: {value}. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)", field=name
        ) from None
    if _is_date_only(text):
        parsed = datetime.combine(date.fromisoformat(text[:10]), time.max if end else time.min)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _is_date_only(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


def timestamp(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat()


def time_ago(moment: datetime, now: datetime) -> str:
    seconds = max(int((now - moment) / timedelta(seconds=1)), 0)
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"
