"""A JSON client for the /v1 API in tests (Django's test client, one API key), through the API's middleware
chain as the servers have it (ade/lanes.py)."""

import json

from django.test import Client
from django.test.client import ClientHandler

from ade.lanes import ApiLane


class LanedClientHandler(ApiLane, ClientHandler):
    pass


class ApiClient:
    def __init__(self, key: str | None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        self.client = Client(**headers)
        self.client.handler = LanedClientHandler(enforce_csrf_checks=False)

    def call(self, method: str, path: str, body=None, **extra):
        data = body if isinstance(body, (str, bytes)) else (json.dumps(body) if body is not None else "")
        return getattr(self.client, method)(path, data=data, content_type="application/json", **extra)

    def get(self, path, params=None, **extra):
        return self.client.get(path, params or {}, **extra)

    def post(self, path, body=None, **extra):
        return self.call("post", path, body, **extra)

    def patch(self, path, body=None, **extra):
        return self.call("patch", path, body, **extra)

    def put(self, path, body=None, **extra):
        return self.call("put", path, body, **extra)

    def delete(self, path, **extra):
        return self.call("delete", path, None, **extra)

    def upload(self, path, files: dict, data: dict | None = None, **extra):
        return self.client.post(path, {**(data or {}), **files}, **extra)
