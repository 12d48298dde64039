"""Engram settings: everything comes from the environment (12-factor).

DATABASE_URL unset -> SQLite under var/ (the embedded default); postgresql://... -> PostgreSQL + pgvector.
REDIS_URL unset -> in-memory channel layer and eager Celery; set -> Redis layer, broker and real workers.
"""

import os
from pathlib import Path

import csp.constants

from .config import (
    ConfigError,
    configure_tiktoken_offline,
    database_from_url,
    email_settings,
    fail,
    redis_url,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ENGRAM_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
VAR_DIR.chmod(0o700)  # the database, secret key and uploads: readable by the server's user only
configure_tiktoken_offline()
# One BLAS thread (read when numpy loads, so before the apps import it): embedding a passage multiplies tiny
# matrices, which a thread pool makes several times slower, and its spinning threads steal the CPU that other
# requests of the server need.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", ""), VAR_DIR)}
    REDIS_URL = redis_url(os.environ.get("REDIS_URL", ""))
except ConfigError as exc:
    fail(str(exc))
# A server started by the tests in a subprocess is pointed at the test database by name.
if os.environ.get("DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["DATABASE_NAME"]

SECRET_KEY = secret_key(VAR_DIR)
DEBUG = os.environ.get("DEBUG", "0") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
USE_PGVECTOR = DATABASES["default"]["ENGINE"].endswith("postgresql")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",  # login throttling (ade.auth.LoginThrottle)
    "channels",
    "ninja",  # serves /v1/docs with its bundled Swagger UI files instead of a CDN
    "accounts",
    "memory",
    "tools",
    "agents",
    "evals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.RoleGate",  # a viewer's write to a page is a 403 (roles: accounts.permissions)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login with 429
    "csp.middleware.CSPMiddleware",
]
# What requests under /v1/ go through (ade/lanes.py): the API authenticates by key alone, so the session, CSRF,
# user, role, messages, htmx and login-throttle middleware had nothing to do there but cost ~0.3 ms a request.
# The host check (Common), the security headers and the CSP (the Swagger page at /v1/docs) stay.
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "ade.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context.roles",
            ],
        },
    },
]
WSGI_APPLICATION = "ade.wsgi.application"
ASGI_APPLICATION = "ade.asgi.application"

# A public instance (compose sets HTTPS=1; TLS is terminated in front of daphne): cookies only over HTTPS, HSTS,
# a working-day session. Off by default so `make run` works over plain http://127.0.0.1.
HTTPS = os.environ.get("HTTPS", "0") == "1"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600 if HTTPS else 14 * 24 * 3600))
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy (django-csp): scripts only from this server (plus the one nonced inline script that applies
# the theme before first paint), no inline handlers, no plugins, no framing; inline styles stay allowed (templates and
# htmx's indicator styles use them). Websockets to this origin are covered by 'self'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp.constants.NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_REFERRER_POLICY = "same-origin"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["ade.auth.LoginThrottle", "django.contrib.auth.backends.ModelBackend"]
# Login throttling (django-axes): a user name tried from one address is locked for a while after repeated failures.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 10))
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_COOLOFF_MINUTES", 15)) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MAX_BODY_BYTES", 10 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 25 * 1024 * 1024))
# Enforced before a body is read (ade/bodylimit.py): a request without an API key or session gets only this much.
UNAUTHENTICATED_BODY_BYTES = int(os.environ.get("UNAUTHENTICATED_BODY_BYTES", 64 * 1024))
# Ingestion limits per file (memory/ingest.py): what a document may unpack to, its text, its chunks; a file that
# makes no progress for INGEST_STALE_SECONDS was interrupted and is marked as an error.
INGEST_MAX_UNPACKED_BYTES = int(os.environ.get("INGEST_MAX_UNPACKED_BYTES", 100 * 1024 * 1024))
INGEST_MAX_CHARS = int(os.environ.get("INGEST_MAX_CHARS", 10_000_000))
INGEST_MAX_CHUNKS = int(os.environ.get("INGEST_MAX_CHUNKS", 10_000))
INGEST_STALE_SECONDS = int(os.environ.get("INGEST_STALE_SECONDS", 600))
HTTP_IDLE_TIMEOUT_SECONDS = int(os.environ.get("HTTP_IDLE_TIMEOUT_SECONDS", 60))  # daphne: a silent connection
HTTP_BODY_TIMEOUT_SECONDS = int(os.environ.get("HTTP_BODY_TIMEOUT_SECONDS", 300))  # daphne: headers to last byte
# daphne: a response the client does not read (an SSE stream) may wait in the send buffer up to this much.
HTTP_MAX_UNSENT_BYTES = int(os.environ.get("HTTP_MAX_UNSENT_BYTES", 8 * 1024 * 1024))

if REDIS_URL:
    # redis-py 8 reads with a 5 s socket timeout by default, exactly channels-redis's 5 s BZPOPMIN wait: a reply
    # arriving at the deadline raised TimeoutError and dropped the page's websocket. Read longer than the wait.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_EAGER", "0" if REDIS_URL else "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Optional beat (workers already run the same watchdog in a thread).
CELERY_BEAT_SCHEDULE = {"reap-lost-runs": {"task": "agents.reap_lost_runs", "schedule": 15.0}}
# Run events are kept this long in Redis for stream resume; a worker that stops renewing its lease for
# RUN_LEASE_SECONDS is taken for dead and its run is failed.
RUN_EVENTS_TTL_SECONDS = int(os.environ.get("RUN_EVENTS_TTL_SECONDS", 24 * 3600))
# A finished run's events stay replayable this long: every streamed token of a day's runs held Redis's memory.
RUN_EVENTS_CLOSED_TTL_SECONDS = int(os.environ.get("RUN_EVENTS_CLOSED_TTL_SECONDS", 3600))
RUN_LEASE_SECONDS = int(os.environ.get("RUN_LEASE_SECONDS", 30))
# A run still queued after RUN_QUEUE_STALE_SECONDS with nothing of its conversation running lost its task: the
# watchdog enqueues it again, up to RUN_QUEUE_RETRIES times, then fails it (agents.runs._sweep_queued).
RUN_QUEUE_STALE_SECONDS = int(os.environ.get("RUN_QUEUE_STALE_SECONDS", 60))
RUN_QUEUE_RETRIES = int(os.environ.get("RUN_QUEUE_RETRIES", 3))
# How long a turn's write waits for the database to come back on a new connection (ade/dbretry.py).
DB_RETRY_SECONDS = float(os.environ.get("DB_RETRY_SECONDS", 30))
# TEST ONLY (tests/test_faults.py): while this file exists, a turn waits right before it marks its run finished,
# so that a test can kill the worker between a turn's last committed step and its finish. Never set it otherwise.
TEST_HOLD_FINISH_FILE = os.environ.get("TEST_HOLD_FINISH_FILE", "")

# LLM providers: read from the environment (never logged or exported).
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY", "")
OLLAMA_BASE_URL = os.environ.get("OLLAMA_BASE_URL", "")
OPENAI_COMPATIBLE_BASE_URL = os.environ.get("OPENAI_COMPATIBLE_BASE_URL", "")
OPENAI_COMPATIBLE_API_KEY = os.environ.get("OPENAI_COMPATIBLE_API_KEY", "")
# Endpoints a tenant names (an agent's model_endpoint, a folder's embedding_endpoint, MCP servers) may not reach
# internal addresses except these (host names, addresses, CIDR networks; see ade/netguard.py). The embedded
# default (no DATABASE_URL, no REDIS_URL: one person on a laptop) allows loopback for a local Ollama or vLLM.
_EMBEDDED = not os.environ.get("DATABASE_URL") and not REDIS_URL
ALLOWED_MODEL_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_MODEL_HOSTS", "127.0.0.0/8,::1" if _EMBEDDED else "").split(",")
    if h.strip()
]
# The scripted model: an OpenAI-compatible server that ships with Engram. When unset and no
# provider is configured, the embedded default starts it in-process.
SCRIPTED_LLM_URL = os.environ.get("SCRIPTED_LLM_URL", "")
# The model that grades answers of the core-memory update suite (evals/grading.py); empty: graded by "contains".
EVAL_JUDGE_MODEL = os.environ.get("EVAL_JUDGE_MODEL", "")
# An eval sample with no new turn for this long lost its player (a worker died): it is failed, the eval goes on.
EVAL_STALE_SECONDS = int(os.environ.get("EVAL_STALE_SECONDS", "600"))
SCRIPTED_LLM_AUTOSTART = os.environ.get("SCRIPTED_LLM_AUTOSTART", "1") == "1"
SCRIPTED_LLM_PACE_MS = int(os.environ.get("SCRIPTED_LLM_PACE_MS", "30"))  # ms per streamed word (demo)
DEFAULT_MODEL = os.environ.get("ENGRAM_DEFAULT_MODEL", "engram/scripted")
DEFAULT_EMBEDDING = os.environ.get("ENGRAM_DEFAULT_EMBEDDING", "local/all-minilm-l6-v2")

# Servers and workers import litellm on a background thread at start-up (seconds of imports), so their first
# turn does not wait for it. 0 = import it at the first model call.
WARM_LITELLM = os.environ.get("WARM_LITELLM", "1") == "1"
TOOL_TIMEOUT_SECONDS = float(os.environ.get("TOOL_TIMEOUT_SECONDS", 10))
TOOL_MEMORY_MB = int(os.environ.get("TOOL_MEMORY_MB", 512))
# Custom tools run isolated under bubblewrap ("bwrap"; see tools/sandbox.py) or are refused when it cannot start.
# "unsafe-local" runs them as plain subprocesses of the server's user: only for a single-user machine.
TOOL_SANDBOX = os.environ.get("TOOL_SANDBOX", "bwrap")
TOOL_MAX_PROCESSES = int(os.environ.get("TOOL_MAX_PROCESSES", 32))  # per execution, threads included
# When the server runs as root, bwrap itself is started as this unprivileged user.
TOOL_SANDBOX_USER = os.environ.get("TOOL_SANDBOX_USER", "nobody")
TOOL_SANDBOX_PYTHON = os.environ.get("TOOL_SANDBOX_PYTHON", "")
TOOL_ALLOW_NETWORK = os.environ.get("TOOL_ALLOW_NETWORK", "0") == "1"
# Archival search: "vector", "fts" or "hybrid" (both fused; measured best by `manage.py bench retrieval`).
ARCHIVAL_SEARCH_MODE = os.environ.get("ARCHIVAL_SEARCH_MODE", "hybrid")
CONVERSATION_SEARCH_MODE = os.environ.get(
    "CONVERSATION_SEARCH_MODE", "hybrid"
)  # conversation_search: fts | vector | hybrid
MCP_TOOL_TIMEOUT_SECONDS = float(os.environ.get("MCP_TOOL_TIMEOUT_SECONDS", 60))
# stdio MCP servers run in the tool sandbox; they get network access only when the operator allows it, and see
# /usr plus these read-only directories (colon-separated: where the operator installed them).
MCP_STDIO_ALLOW_NETWORK = os.environ.get("MCP_STDIO_ALLOW_NETWORK", "0") == "1"
MCP_STDIO_PATHS = [p for p in os.environ.get("MCP_STDIO_PATHS", "").split(":") if p]
MCP_STDIO_MEMORY_MB = int(os.environ.get("MCP_STDIO_MEMORY_MB", 1024))

# Email (invitation links): SMTP from EMAIL_URL or EMAIL_HOST, else printed to the console (ade.config).
globals().update(email_settings(os.environ))
INVITATION_DAYS = int(os.environ.get("INVITATION_DAYS", 7))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"LiteLLM": {"level": "WARNING"}, "httpx": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
