"""Built-in tools that reach outside: `web_search`, `fetch_webpage`, and `run_code` (in the custom-tool sandbox).

They never invent results. Without a configured search provider (`WEB_SEARCH_PROVIDER` = exa | tavily with
`EXA_API_KEY` / `TAVILY_API_KEY`), or when the network or the page cannot be reached, the model gets a tool
error that says so. Pages are fetched only from addresses `ade.netguard` allows (no private or loopback hosts
unless the operator lists them), with a size cap.
"""

import html
import json
import os
import re
from html.parser import HTMLParser
from typing import Literal

from django.conf import settings

from ade.errors import Invalid
from ade.netguard import check_outbound_url

from .registry import ToolContext, ToolError, base_tool

FETCH_MAX_BYTES = 2_000_000
PAGE_MAX_CHARS = 20_000
TIMEOUT_SECONDS = 20
PROVIDER_URLS = {"exa": "https://api.exa.ai/search", "tavily": "https://api.tavily.com/search"}


def search_provider() -> tuple[str, str] | None:
    """(provider, key) from the settings or the environment, else None."""
    exa = getattr(settings, "EXA_API_KEY", "") or os.environ.get("EXA_API_KEY", "")
    tavily = getattr(settings, "TAVILY_API_KEY", "") or os.environ.get("TAVILY_API_KEY", "")
    chosen = (getattr(settings, "WEB_SEARCH_PROVIDER", "") or os.environ.get("WEB_SEARCH_PROVIDER", "")).lower()
    keys = {"exa": exa, "tavily": tavily}
    if chosen:
        return (chosen, keys[chosen]) if keys.get(chosen) else None
    return next(((name, key) for name, key in keys.items() if key), None)


@base_tool("letta_builtin")
def web_search(ctx: ToolContext, query: str, num_results: int = 5) -> str:
    """Search the web and get the title, address and an excerpt of each result.

    Args:
        query: What to search for.
        num_results: How many results to return (1 to 20).
    """
    import httpx

    provider = search_provider()
    if provider is None:
        raise ToolError(
            "web_search is not available: this server has no web search provider configured "
            "(the operator can set EXA_API_KEY or TAVILY_API_KEY). No results were retrieved."
        )
    name, key = provider
    count = max(1, min(int(num_results or 5), 20))
    url = getattr(settings, "WEB_SEARCH_URL", "") or PROVIDER_URLS[name]
    if name == "exa":
        request = {
            "json": {"query": query, "numResults": count, "contents": {"text": {"maxCharacters": 1000}}},
            "headers": {"x-api-key": key},
        }
    else:
        request = {"json": {"query": query, "max_results": count}, "headers": {"Authorization": f"Bearer {key}"}}
    try:
        response = httpx.post(url, timeout=TIMEOUT_SECONDS, **request)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ToolError(
            f"web_search failed: the {name} search service could not be reached or answered badly "
            f"({type(exc).__name__}). No results were retrieved."
        ) from None
    results = [
        {"title": r.get("title"), "url": r.get("url"), "excerpt": (r.get("text") or r.get("content") or "")[:1000]}
        for r in (data.get("results") or [])[:count]
    ]
    return json.dumps({"query": query, "results": results}, ensure_ascii=False)


@base_tool("letta_builtin")
def fetch_webpage(ctx: ToolContext, url: str) -> str:
    """Fetch a web page and return its text (markup removed).

    Args:
        url: The http(s) address of the page.
    """
    import httpx

    try:
        check_outbound_url(url, field="url")
    except Invalid as exc:
        raise ToolError(f"fetch_webpage refused {url[:200]!r}: {exc.message}") from None
    try:
        with httpx.stream("GET", url, timeout=TIMEOUT_SECONDS, follow_redirects=False) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > FETCH_MAX_BYTES:
                    break
            status, kind = response.status_code, response.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        raise ToolError(
            f"fetch_webpage could not reach {url[:200]}: {type(exc).__name__} (is the network "
            "available to this server?). Nothing was fetched."
        ) from None
    if status >= 400:
        raise ToolError(f"fetch_webpage: {url[:200]} answered HTTP {status}")
    text = body.decode("utf-8", errors="replace")
    if "html" in kind or text.lstrip().lower().startswith(("<!doctype html", "<html")):
        text = page_text(text)
    if len(text) > PAGE_MAX_CHARS:
        text = text[:PAGE_MAX_CHARS] + f"\n… [{len(text) - PAGE_MAX_CHARS} more characters not shown]"
    return text


class _TextOnly(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "pre"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def page_text(markup: str) -> str:
    parser = _TextOnly()
    parser.feed(markup)
    text = html.unescape("".join(parser.parts))
    return re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()


_RUNNER = """
def run_code(code):
    namespace = {"__name__": "__main__"}
    exec(compile(code, "<code>", "exec"), namespace)
"""


@base_tool("letta_builtin")
def run_code(ctx: ToolContext, code: str, language: Literal["python"] = "python") -> str:
    """Run a program in an isolated sandbox (no network, no server files) and get what it printed.

    Args:
        code: The program; print what you want to see.
        language: The programming language (only python is available).
    """
    from .sandbox import SandboxUnavailable, run_python_tool

    if language != "python":
        raise ToolError(f"run_code: {language!r} is not available on this server; use python")
    try:
        result = run_python_tool(_RUNNER, "run_code", {"code": code})
    except SandboxUnavailable as exc:
        raise ToolError(f"run_code is not available: no sandbox can run here ({exc})") from None
    out = {"stdout": "".join(result.stdout), "stderr": "".join(result.stderr)}
    if not result.ok:
        out["error"] = result.func_return
    return json.dumps(out, ensure_ascii=False)
