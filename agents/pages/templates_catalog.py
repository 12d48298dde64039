"""Starting points offered by "New agent": data only. Creating an agent from one goes through agents.actions."""

from dataclasses import dataclass, field

ARCHIVAL_TOOLS = ["archival_memory_insert", "archival_memory_search"]
BLANK_BLOCKS = [
    {"label": "persona", "limit": 5000, "value": "I am a helpful assistant. I keep notes about the person I talk to."},
    {"label": "human", "limit": 5000, "value": "Name: not known yet"},
]


@dataclass(frozen=True)
class AgentTemplate:
    key: str
    name: str
    summary: str
    blocks: list[dict]
    tools: list[str]
    tags: list[str] = field(default_factory=list)
    description: str = ""

    def spec(self, name: str) -> dict:
        """A CreateAgent spec for agents.actions.create_agent: base tools of the type plus the template's."""
        return {
            "name": name,
            "description": self.description or self.summary,
            "memory_blocks": [dict(b) for b in self.blocks],
            "tools": list(self.tools),
            "tags": list(self.tags),
        }


def blank_spec(name: str) -> dict:
    return {"name": name, "memory_blocks": [dict(b) for b in BLANK_BLOCKS]}


CATALOG = [
    AgentTemplate(
        key="customer_support",
        name="Customer support",
        summary="Answers product questions politely, remembers each customer's case and escalates when stuck.",
        tags=["support"],
        blocks=[
            {
                "label": "persona",
                "limit": 5000,
                "value": (
                    "I am Sam, a customer support agent. I am patient, precise and friendly. I confirm I understood the "
                    "problem before proposing a fix, give one step at a time, and say plainly when I do not know. "
                    "I never promise refunds or dates I cannot guarantee; I escalate instead."
                ),
            },
            {
                "label": "human",
                "limit": 5000,
                "value": ("Customer name: unknown\nPlan: unknown\nOpen issue: none yet\nMood: unknown"),
            },
            {
                "label": "policies",
                "limit": 8000,
                "read_only": True,
                "description": "Support policies set by the team. Read-only for the agent.",
                "value": (
                    "- Refunds within 30 days of purchase are approved by a human, never by the agent.\n"
                    "- Never ask for passwords or full card numbers.\n"
                    "- Escalate outages, security reports and legal questions.\n"
                    "- Business hours: Monday to Friday, 9:00-17:00 UTC."
                ),
            },
        ],
        tools=ARCHIVAL_TOOLS,
    ),
    AgentTemplate(
        key="personal_assistant",
        name="Personal assistant",
        summary="Keeps track of your preferences, plans and to-dos across conversations.",
        tags=["assistant"],
        blocks=[
            {
                "label": "persona",
                "limit": 5000,
                "value": (
                    "I am a personal assistant. I am warm and brief. I remember what matters to the person I help "
                    "- their name, preferences, plans and commitments - and I keep my notes about them up to date."
                ),
            },
            {"label": "human", "limit": 5000, "value": "Name: not known yet\nPreferences:\nImportant dates:"},
            {
                "label": "todo",
                "limit": 4000,
                "description": "Open tasks the person asked me to track, one per line.",
                "value": "",
            },
        ],
        tools=ARCHIVAL_TOOLS,
    ),
    AgentTemplate(
        key="research_analyst",
        name="Research analyst",
        summary="Collects findings in archival memory, cites them, and keeps a running research plan.",
        tags=["research"],
        blocks=[
            {
                "label": "persona",
                "limit": 5000,
                "value": (
                    "I am a research analyst. I separate facts from opinions, note where each finding came from, "
                    "and say how confident I am. I store findings in archival memory and search it before answering."
                ),
            },
            {"label": "human", "limit": 5000, "value": "Name: not known yet\nResearch goal: unknown"},
            {
                "label": "research_plan",
                "limit": 6000,
                "description": "The current research question, the open sub-questions and what is already known.",
                "value": "Question:\nOpen sub-questions:\nKnown so far:",
            },
        ],
        tools=[*ARCHIVAL_TOOLS, "memory_rethink"],
    ),
    AgentTemplate(
        key="coding_assistant",
        name="Coding assistant",
        summary="Pairs on code: remembers the project's stack and conventions, explains its changes.",
        tags=["coding"],
        blocks=[
            {
                "label": "persona",
                "limit": 5000,
                "value": (
                    "I am a coding assistant. I read before I write, prefer small and well-named functions, explain "
                    "the why of each change, and show code in fenced blocks with the language named."
                ),
            },
            {"label": "human", "limit": 5000, "value": "Name: not known yet\nExperience: unknown\nEditor/OS: unknown"},
            {
                "label": "project",
                "limit": 8000,
                "description": "The project being worked on: language, frameworks, conventions, commands.",
                "value": "Language:\nFrameworks:\nConventions:\nHow to run the tests:",
            },
        ],
        tools=ARCHIVAL_TOOLS,
    ),
]

BY_KEY = {t.key: t for t in CATALOG}
