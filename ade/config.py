"""Reading configuration from the environment, with one clear line on bad values."""

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


class ConfigError(Exception):
    """Bad configuration: the message names the variable and the problem."""


def fail(message: str):
    # Start-up must stop with one readable line, not a traceback.
    sys.stderr.write(f"engram: configuration error: {message}\n")
    raise SystemExit(2)


def database_from_url(url: str, var_dir: Path) -> dict:
    if not url:
        return {
            "ENGINE": "ade.sqlite",
            "NAME": str(var_dir / "engram.sqlite3"),
            # WAL with synchronous=NORMAL: commits do not fsync (a power cut may lose the last commits, never
            # corrupt the file); with FULL every commit of a turn's steps cost ~3 ms.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file test database, so worker processes and forked servers share it.
            "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME") or str(var_dir / "test_engram.sqlite3")},
        }
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"DATABASE_URL must start with postgresql:// (got scheme {parsed.scheme!r})")
    name = unquote(parsed.path.lstrip("/"))
    if not name:
        raise ConfigError("DATABASE_URL has no database name (expected postgresql://user@host:port/name)")
    try:
        port = parsed.port
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL has a bad port: {exc}") from None
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or "127.0.0.1"])[0]
    db = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(port or 5432),
        # A connection pool, not persistent connections: under ASGI every request runs on a new thread, so a
        # persistent connection was opened per request (~10 ms) and dropped with its thread. Pooled connections
        # are checked before use (CONN_HEALTH_CHECKS), so a database restart does not fail the next requests.
        # A request waits at most DATABASE_POOL_TIMEOUT s for a connection (the database down: then a 503).
        "OPTIONS": {
            "pool": {
                "min_size": 2,
                "max_size": int(os.environ.get("DATABASE_POOL_SIZE", 20)),
                "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", 30)),
            }
        },
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME") or f"test_{name}"},
    }
    return db


def redis_url(value: str) -> str:
    if value and urlparse(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL must start with redis:// (got {value!r})")
    return value


def secret_key(var_dir: Path) -> str:
    """SECRET_KEY from the environment, else generated once and kept under var/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = var_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def configure_tiktoken_offline():
    """Point tiktoken at the encodings litellm ships, without importing litellm (slow)."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec and spec.origin:
        bundled = os.path.join(os.path.dirname(spec.origin), "litellm_core_utils", "tokenizers")
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", bundled)
        # litellm overwrites TIKTOKEN_CACHE_DIR on first use unless this is set.
        os.environ.setdefault("CUSTOM_TIKTOKEN_CACHE_DIR", bundled)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def email_settings(env) -> dict:
    """Django email settings: SMTP from EMAIL_URL (`smtp://user:password@host:587` with STARTTLS, `smtps://` for
    implicit TLS) or from EMAIL_HOST (+ EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS); otherwise
    the console backend, which prints each message (invitation links) to the server's output."""
    from urllib.parse import unquote, urlsplit

    sender = {"DEFAULT_FROM_EMAIL": env.get("DEFAULT_FROM_EMAIL", "Engram <engram@localhost>")}
    url = env.get("EMAIL_URL", "")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            fail(f"EMAIL_URL must look like smtp://user:password@host:587 (got scheme {parts.scheme!r})")
        implicit = parts.scheme == "smtps"
        return {
            **sender,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": parts.port or (465 if implicit else 587),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_SSL": implicit,
            "EMAIL_USE_TLS": not implicit,
        }
    if env.get("EMAIL_HOST"):
        return {
            **sender,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": env["EMAIL_HOST"],
            "EMAIL_PORT": int(env.get("EMAIL_PORT", 587)),
            "EMAIL_HOST_USER": env.get("EMAIL_HOST_USER", ""),
            "EMAIL_HOST_PASSWORD": env.get("EMAIL_HOST_PASSWORD", ""),
            "EMAIL_USE_TLS": env.get("EMAIL_USE_TLS", "1") == "1",
        }
    return {**sender, "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
