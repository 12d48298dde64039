"""The code's shape (docs/architecture.md, "Dependencies"): no import circles, lower apps never import `agents` at
module level, and no module past 500 lines. Pure reads of the source tree: no database."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("ade", "accounts", "agents", "memory", "tools")
MAX_LINES = 500


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_circles_and_layers_point_one_way():
    assert _checker().problems() == []


def test_the_checker_sees_a_circle():
    checker = _checker()
    graph = {"agents.a": {"agents.b"}, "agents.b": {"agents.c"}, "agents.c": {"agents.a"}, "agents.d": {"agents.a"}}
    assert checker.cycles(graph) == [["agents.a", "agents.b", "agents.c"]]


def test_no_module_is_longer_than_500_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
