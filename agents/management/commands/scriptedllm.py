"""Run the scripted OpenAI-compatible model server in the foreground."""

import os

from aiohttp import web
from django.core.management.base import BaseCommand

from agents.scripted.server import make_app


class Command(BaseCommand):
    requires_system_checks = []  # a standalone model server: it touches neither the database nor the URLs
    help = "Serve the scripted model (engram/scripted) over an OpenAI-compatible HTTP API."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--pace-ms", type=int, default=0, help="delay between streamed words (0 for tests)")

    def handle(self, *args, host, port, pace_ms, **options):
        # The control routes only for whoever started us with a token in our environment (never on the command
        # line, which every local user can read).
        token = os.environ.pop("SCRIPTED_LLM_CONTROL_TOKEN", "") or None
        self.stdout.write(f"scripted model on http://{host}:{port}/v1 (pace {pace_ms} ms/word)")
        web.run_app(make_app(pace_ms, token), host=host, port=port, print=None, access_log=None)
