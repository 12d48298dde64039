"""Parsing and applying the patches of `memory_apply_patch` (pure text work; tools/base.py does the writes).

Single-block patches are unified-diff-like hunks separated by `@@` lines: ` ` context, `-` removed, `+` added.
Multi-block patches name their targets with `*** Add Block: L`, `*** Delete Block: L`, `*** Update Block: L`
and `*** Move to: L2` (renames the block named just before).
"""

from dataclasses import dataclass, field

from .registry import ToolError

NO_HUNKS = "No applicable hunks found in patch. Ensure lines start with ' ', '-', or '+'."
NOT_FOUND = (
    "Failed to apply patch: expected hunk context not found in the memory block. Check that the context "
    "and removed lines match the current block text exactly."
)
AMBIGUOUS = (
    "Failed to apply patch: hunk context matched multiple places in the memory block. Add more context "
    "lines so the hunk matches only one place."
)
_BLOCK_HEADERS = ("*** Add Block:", "*** Delete Block:", "*** Update Block:")


@dataclass
class Operation:
    kind: str  # add | delete | update | move
    label: str
    lines: list[str] = field(default_factory=list)
    description: str | None = None
    new_label: str = ""


def is_multi_block(patch: str) -> bool:
    return any(line.startswith(_BLOCK_HEADERS) for line in patch.splitlines())


def parse_operations(patch: str) -> list[Operation]:
    ops, current, last_label = [], None, None
    for line in patch.splitlines():
        header, _, rest = line.partition(":")
        name = rest.strip()
        if line.startswith(_BLOCK_HEADERS):
            kind = {"*** Add Block": "add", "*** Delete Block": "delete", "*** Update Block": "update"}[header]
            current = Operation(kind, name)
            ops.append(current)
            last_label = name
            if kind == "delete":
                current = None
        elif line.startswith("*** Move to:"):
            if last_label is None:
                raise ToolError("Failed to apply patch: '*** Move to:' must follow a block header.")
            ops.append(Operation("move", last_label, new_label=name))
            last_label, current = name, None
        elif line.startswith("*** "):
            continue  # e.g. *** Begin Patch / *** End Patch
        elif current is not None and current.kind == "add" and line.startswith("Description:") and not current.lines:
            current.description = line.removeprefix("Description:").strip()
        elif current is not None:
            current.lines.append(line)
    return ops


def added_text(lines: list[str]) -> str:
    return "\n".join(line[1:] for line in lines if line.startswith("+"))


def parse_hunks(lines: list[str]) -> list[list[tuple[str, str]]]:
    """[[(op, text)]] per hunk, op in ' ', '-', '+'. Headers are skipped; a blank line is empty context."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    hunks, current = [], []
    for line in lines:
        if line.startswith("@@"):
            hunks.append(current)
            current = []
        elif line.startswith(("***", "---", "+++")):
            continue
        elif line == "":
            current.append((" ", ""))
        elif line[0] in " -+":
            current.append((line[0], line[1:]))
    hunks.append(current)
    return [h for h in hunks if any(op in "-+" for op, _ in h)]


def apply_hunks(value: str, hunks: list) -> str:
    if not hunks:
        raise ToolError(NO_HUNKS)
    lines = value.split("\n") if value else []
    for hunk in hunks:
        expected = [text for op, text in hunk if op in " -"]
        replacement = [text for op, text in hunk if op in " +"]
        if not expected:
            lines = lines + replacement
            continue
        width = len(expected)
        starts = [i for i in range(len(lines) - width + 1) if lines[i : i + width] == expected]
        if not starts:
            raise ToolError(NOT_FOUND)
        if len(starts) > 1:
            raise ToolError(AMBIGUOUS)
        lines[starts[0] : starts[0] + width] = replacement
    return "\n".join(lines)
