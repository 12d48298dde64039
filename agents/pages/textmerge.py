"""Three-way line merge for the block editor's conflict screen: combine my edit and theirs against the
version both started from. Overlapping changes are kept side by side between conflict markers, so nothing
is lost and a person decides."""

import difflib

MINE, SEP, THEIRS = "<<<<<<< yours\n", "=======\n", ">>>>>>> theirs\n"


def _changes(base: list[str], other: list[str]) -> list[tuple[int, int, list[str]]]:
    """(start, end, replacement lines) of each region of `base` that `other` changed."""
    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [(i1, i2, other[j1:j2]) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"]


def _apply(base: list[str], start: int, end: int, changes) -> list[str]:
    out, pos = [], start
    for i1, i2, lines in changes:
        out += base[pos:i1] + lines
        pos = i2
    return out + base[pos:end]


def merge_texts(base: str, mine: str, theirs: str) -> tuple[str, bool]:
    """The merged text and whether it merged cleanly (no conflict markers)."""
    b = base.splitlines(keepends=True)
    m, t = mine.splitlines(keepends=True), theirs.splitlines(keepends=True)
    for lines in (b, m, t):  # a last line without a newline still compares equal to one with it
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
    pending = {"mine": _changes(b, m), "theirs": _changes(b, t)}
    out, pos, clean = [], 0, True
    while pending["mine"] or pending["theirs"]:
        start = min(c[0][0] for c in pending.values() if c)
        end, group = start, {"mine": [], "theirs": []}
        grew = True
        while grew:  # gather every change touching [start, end] from both sides
            grew = False
            for side, queue in pending.items():
                while queue and queue[0][0] <= end:
                    change = queue.pop(0)
                    group[side].append(change)
                    end, grew = max(end, change[1]), True
        out += b[pos:start]
        ours, others = (_apply(b, start, end, group[s]) if group[s] else None for s in ("mine", "theirs"))
        if ours is None or others is None or ours == others:
            out += ours if ours is not None else others
        else:
            clean = False
            out += [MINE, *ours, SEP, *others, THEIRS]
        pos = end
    out += b[pos:]
    text = "".join(out)
    if not (mine.endswith("\n") or theirs.endswith("\n")):
        text = text[:-1] if text.endswith("\n") else text
    return text, clean
