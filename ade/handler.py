"""Django's ASGI handler with the whole request (middleware and view) run on one thread, in one hop.

Django's own ASGI handler runs its middleware chain on the event loop when the middleware can do so, and then
hops to a thread and back for every middleware hook and for the view (all our views are synchronous; an async one
still works, through async_to_sync). Each hop costs a thread handoff: the sync chain costs one per request.
Requests still each get a thread of their own (Django's ThreadSensitiveContext), so a long turn blocks no other.
"""

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)  # the synchronous chain, whatever ASGIHandler asks for

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
