"""Template contexts of the workspace panels. Views and the websocket consumer both build their HTML from
these, so a pushed partial is exactly what a fresh page render shows."""


def workspace(agent, user) -> dict:
    return {"agent": agent}
