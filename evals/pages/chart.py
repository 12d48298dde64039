"""A line chart of eval scores over time, as numbers an inline SVG template draws (no script, no CDN): one line
per model across the finished runs of one suite, oldest run on the left."""

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 28
COLOURS = ("#3a5bd9", "#d9503a", "#2f9e63", "#b7791f", "#8a4fd1", "#1f8fb7", "#c23d8a", "#5f6b7a")


def score_chart(runs) -> dict | None:
    """`runs`: finished EvalRuns of one suite. None when no run has a score to draw."""
    runs = sorted((r for r in runs if _scores(r)), key=lambda r: (r.created_at, r.id))
    if not runs:
        return None
    span = max(len(runs) - 1, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i):
        return round(LEFT + (plot_w * i / span if len(runs) > 1 else plot_w / 2), 1)

    def y(score):
        return round(TOP + plot_h * (1 - score / 100), 1)

    models = list(dict.fromkeys(m for r in runs for m in _scores(r)))
    series = []
    for n, model in enumerate(models):
        dots = [
            {"x": x(i), "y": y(s), "label": f"{model}: {s:g}% ({r.created_at:%b %-d %H:%M})", "run": r.id}
            for i, r in enumerate(runs)
            if (s := _scores(r).get(model)) is not None
        ]
        points = " ".join(f"{d['x']},{d['y']}" for d in dots)
        series.append({"model": model, "colour": COLOURS[n % len(COLOURS)], "points": points, "dots": dots})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "bottom": HEIGHT - BOTTOM,
        "series": series,
        "yticks": [{"y": y(v), "label": v} for v in (0, 25, 50, 75, 100)],
        "xticks": [{"x": x(i), "label": f"{r.created_at:%b %-d %H:%M}"} for i, r in enumerate(runs)][
            :: max(len(runs) // 8, 1)
        ],
    }


def _scores(run) -> dict:
    return {m: s["score"] for m, s in (run.summary or {}).items() if isinstance(s, dict) and s.get("score") is not None}
