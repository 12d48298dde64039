"""An ASGI HTTP scope for calling Django's handler directly in tests."""


def http_scope(path: str, headers=()) -> dict:
    """GET `path` from 127.0.0.1, with `headers` (name, value) as bytes; Host is testserver unless given."""
    given = [*headers]
    host = [] if any(name == b"host" for name, _ in given) else [(b"host", b"testserver")]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*host, *given],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
