"""Fail on import circles and on lower layers importing `agents` at module level.

Rules (docs/architecture.md, "Dependencies"):
- no circle among module-level imports anywhere in our apps;
- no circle inside one app, counting imports inside functions too;
- `memory/` and `tools/` (and `accounts/`, `ade/` except its entry points) never import `agents` at module level.
Run: python scripts/check_imports.py  (exit 1 and a list of problems if any rule is broken).
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("ade", "accounts", "agents", "memory", "tools")
LOWER = ("memory", "tools", "accounts")
# Entry points that wire the apps together may import anything.
ENTRY_POINTS = {"ade.asgi", "ade.urls", "ade.api", "ade.celery"}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(current, is_package, node):
    """The absolute module names an ImportFrom/Import node refers to."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = current if is_package else current.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    prefix = node.module if node.level == 0 else ".".join(p for p in (base, node.module) if p)
    # `from pkg import name` may name a submodule: keep both, filtered against known modules later.
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def collect():
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            modules[module_name(path)] = path
    graph_top, graph_all = {}, {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        top, every = set(), set()
        toplevel_nodes = set(id(n) for n in tree.body)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets = {t for t in resolve(name, is_package, node) if t in modules and t != name}
            every |= targets
            if id(node) in toplevel_nodes or _in_toplevel_block(tree, node):
                top |= targets
        graph_top[name], graph_all[name] = top, every
    return modules, graph_top, graph_all


def _in_toplevel_block(tree, target):
    """Imports under a module-level `if`/`try` still run at import time."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.If, ast.Try)):
            if any(n is target for n in ast.walk(stmt)):
                return True
    return False


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return result


def problems():
    modules, graph_top, graph_all = collect()
    found = [f"module-level import circle: {' <-> '.join(c)}" for c in cycles(graph_top)]
    for app in APPS:
        inner = {m: {t for t in ts if t.split(".")[0] == app} for m, ts in graph_all.items() if m.split(".")[0] == app}
        # A package's __init__ re-exporting its own submodules is not a circle of logic.
        inner = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in inner.items()}
        found += [f"import circle inside {app}/: {' <-> '.join(c)}" for c in cycles(inner)]
    for name, targets in graph_top.items():
        if name.split(".")[0] in LOWER and any(t.split(".")[0] == "agents" for t in targets):
            bad = sorted(t for t in targets if t.split(".")[0] == "agents")
            found.append(f"{name} imports agents at module level: {', '.join(bad)}")
    return found


if __name__ == "__main__":
    found = problems()
    for line in found:
        print(line)
    sys.exit(1 if found else 0)
