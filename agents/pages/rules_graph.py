"""The tool rules as a small graph for the ADE: which tool may follow which, drawn as server-side SVG.

Nodes are the agent's tools that rules name, plus "start" (a run_first rule's tool comes first) and "end" (an
exit_loop rule's tool ends the turn). Edges: a parent to the tools it allows next (constrain_child_tools,
conditional: labelled with the output that leads there, parent_last_tool: from the tools that must come before).
Layers follow the edges from start, so a workflow reads top to bottom (the panel is narrow). Node notes carry what is not an edge
(≤ n per step, needs approval, required before exit, continues the loop).
"""

from dataclasses import dataclass, field

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 130, 30, 16, 44, 10


@dataclass
class Graph:
    nodes: dict[str, dict] = field(default_factory=dict)  # name -> {"notes": [...], "x", "y", "kind"}
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, label)
    width: int = 0
    height: int = 0


def build(rules: list[dict]) -> Graph:
    graph = Graph()

    def node(name: str, kind: str = "tool") -> dict:
        return graph.nodes.setdefault(name, {"notes": [], "kind": kind})

    for rule in rules:
        kind, name = rule["type"], rule["tool_name"]
        node(name)
        if kind == "run_first":
            node("start", "terminal")
            graph.edges.append(("start", name, ""))
        elif kind == "exit_loop":
            node("end", "terminal")
            graph.edges.append((name, "end", ""))
        elif kind == "constrain_child_tools":
            for child in rule["children"]:
                node(child)
                graph.edges.append((name, child, ""))
        elif kind == "parent_last_tool":
            for parent in rule["children"]:
                node(parent)
                graph.edges.append((parent, name, "after"))
        elif kind == "conditional":
            for output, child in rule["child_output_mapping"].items():
                node(child)
                graph.edges.append((name, child, f"= {output}"))
            if rule.get("default_child"):
                node(rule["default_child"])
                graph.edges.append((name, rule["default_child"], "otherwise"))
        else:
            note = {
                "max_count_per_step": f"≤ {rule.get('max_count_limit')} per step",
                "requires_approval": "needs approval",
                "required_before_exit": "required before exit",
                "continue_loop": "continues the loop",
            }[kind]
            node(name)["notes"].append(note)
    _layout(graph)
    return graph


def _layout(graph: Graph) -> None:
    """Longest-path layers over the edges that are not back edges (a cycle is drawn going back, below)."""
    forward = _without_back_edges(graph)
    layer = {name: 0 for name in graph.nodes}
    for _ in range(len(graph.nodes)):  # longest path on a DAG: at most |nodes| rounds of relaxation
        changed = False
        for a, b in forward:
            if layer[b] < layer[a] + 1:
                layer[b], changed = layer[a] + 1, True
        if not changed:
            break
    if "end" in layer:
        layer["end"] = max(layer.values())
    rows: dict[int, list[str]] = {}
    for name in graph.nodes:  # insertion order: the order the rules name them
        rows.setdefault(layer[name], []).append(name)
    notes = {n: len(graph.nodes[n]["notes"]) for n in graph.nodes}
    y = PAD
    for row in sorted(rows):
        for i, name in enumerate(rows[row]):
            graph.nodes[name].update(x=PAD + i * (NODE_W + GAP_X), y=y)
        y += NODE_H + 12 * max(notes[n] for n in rows[row]) + GAP_Y
    widest = max((len(r) for r in rows.values()), default=0)
    graph.width = PAD * 2 + widest * (NODE_W + GAP_X) - GAP_X + 40  # room for a cycle drawn on the right
    graph.height = y - GAP_Y + PAD


def _without_back_edges(graph: Graph) -> list[tuple[str, str]]:
    """The edges minus those that close a cycle (found by a depth-first walk from start, then in rule order)."""
    out = {name: [b for a, b, _label in graph.edges if a == name and b != name] for name in graph.nodes}
    state, back = {}, set()

    def visit(name: str) -> None:
        state[name] = "open"
        for nxt in out[name]:
            if state.get(nxt) == "open":
                back.add((name, nxt))
            elif nxt not in state:
                visit(nxt)
        state[name] = "done"

    for name in sorted(graph.nodes, key=lambda n: n != "start"):  # start first, then the rules' order
        if name not in state:
            visit(name)
    return [(a, b) for a, b, _label in graph.edges if a != b and (a, b) not in back]


def edge_path(graph: Graph, a: str, b: str) -> dict:
    """Where an edge is drawn: a curve from the bottom of `a` to the top of `b`; one going back up (a cycle) goes
    round on the right."""
    na, nb = graph.nodes[a], graph.nodes[b]
    x1, y1 = na["x"] + NODE_W / 2, na["y"] + NODE_H
    x2, y2 = nb["x"] + NODE_W / 2, nb["y"]
    if y2 > y1:
        mid = (y1 + y2) / 2
        return {"d": f"M {x1} {y1} C {x1} {mid}, {x2} {mid}, {x2} {y2}", "lx": (x1 + x2) / 2 + 4, "ly": mid - 3}
    right = max(na["x"], nb["x"]) + NODE_W + 30
    ya, yb = na["y"] + NODE_H / 2, nb["y"] + NODE_H / 2
    d = f"M {na['x'] + NODE_W} {ya} C {right} {ya}, {right} {yb}, {nb['x'] + NODE_W} {yb}"
    return {"d": d, "lx": right - 4, "ly": (ya + yb) / 2}


def drawing(rules: list[dict]) -> dict | None:
    """What templates/agents/partials/rules_graph.html draws, or None without rules."""
    if not rules:
        return None
    graph = build(rules)
    edges = [{"from": a, "to": b, "label": label, **edge_path(graph, a, b)} for a, b, label in graph.edges]
    nodes = [
        {
            "name": name,
            "kind": data["kind"],
            "x": data["x"],
            "y": data["y"],
            "w": NODE_W,
            "h": NODE_H,
            "cx": data["x"] + NODE_W / 2,  # label centre
            "ty": data["y"] + NODE_H / 2 + 4,
            "notes": [{"text": t, "y": data["y"] + NODE_H + 11 + 12 * i} for i, t in enumerate(data["notes"])],
        }
        for name, data in graph.nodes.items()
    ]
    return {"width": max(graph.width, 200), "height": max(graph.height, 60), "nodes": nodes, "edges": edges}
