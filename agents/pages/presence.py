"""Presence on an agent page: each open socket knows the other sockets on the same agent (learned from their
hello/here/update/bye messages over the agent's channel group) and renders them as avatars, with the block each
one is editing. Nothing is stored: a closed tab says bye, and its avatar goes."""

from django.template.loader import render_to_string


class Presence:
    def __init__(self, channel_name: str, user):
        self.mine = {"channel": channel_name, "user_id": user.pk, "name": user.get_username(), "block_id": ""}
        self.user_id = user.pk
        self.peers: dict[str, dict] = {}  # channel name → what that socket last announced

    def apply(self, message: dict) -> bool:
        """Take in another socket's announcement; True when what this page shows changes."""
        before = self.people()
        if message["kind"] == "bye":
            self.peers.pop(message["channel"], None)
        else:
            keys = ("user_id", "name", "block_id")
            self.peers[message["channel"]] = {key: message.get(key, "") for key in keys}
        return self.people() != before

    def people(self) -> list[dict]:
        """Other people (not this user's other tabs), one entry each, with a block any of their tabs edits."""
        people: dict[str, dict] = {}
        for peer in self.peers.values():
            if peer["user_id"] == self.user_id:
                continue
            person = people.setdefault(peer["user_id"], {**peer})
            person["block_id"] = person["block_id"] or peer["block_id"]
        return sorted(people.values(), key=lambda person: person["name"])

    def render(self) -> str:
        return render_to_string("agents/partials/presence.html", {"people": self.people(), "oob": True})
