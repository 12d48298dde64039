"""The one NinjaAPI: Letta-compatible /v1 routes. Routers live in each app's api module."""

from ninja import NinjaAPI

from .auth import ApiKeyAuth

api = NinjaAPI(
    title="Engram API",
    version="1.0.0",
    description="Letta-compatible REST API of the Engram agent development environment.",
    urls_namespace="v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=ApiKeyAuth(),
)


@api.get("/health/", auth=None, tags=["health"])
def health(request):
    from django.conf import settings  # noqa: F401

    return {"status": "ok", "version": VERSION}


VERSION = "0.1.0"
