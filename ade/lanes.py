"""Two middleware chains: the pages' (settings.MIDDLEWARE) and the API's (settings.API_MIDDLEWARE, for paths under
/v1/). The API authenticates by key alone (ade.auth): sessions, CSRF tokens, the signed-in user, roles of the pages,
flash messages, htmx and the login throttle never apply to it, yet their middleware ran on every API request.

`ApiLane` goes before a Django handler class (ASGI, WSGI, the test client's): it loads both chains and sends each
request down its own. settings.MIDDLEWARE stays the whole list, for Django's and its apps' system checks.
"""

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.test.utils import override_settings

API_PREFIX = "/v1/"


class ApiLane:
    def load_middleware(self, is_async=False):
        super().load_middleware(is_async)
        self.api = BaseHandler()
        # Django's loader reads settings.MIDDLEWARE; this runs once per handler, as the server starts (or at a test
        # client's first request).
        with override_settings(MIDDLEWARE=settings.API_MIDDLEWARE):
            self.api.load_middleware(is_async)

    def get_response(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.api.get_response(request)
        return super().get_response(request)
