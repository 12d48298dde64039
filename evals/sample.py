"""One sample of an eval as a suite sees it: a fresh agent made and driven through the same domain functions as the
API (`agents.actions.create_agent`, `agents.runs.start_turn` + `execute`, `agents.actions.reset_messages`).

Eval agents are `hidden` (left out of agent lists), tagged `eval` and `<eval id>`, and carry
`metadata.eval = {"id", "index", "model"}`; they are kept so each result links to its transcript (the agent page).
A turn runs in this process (a Celery worker of the eval, or the embedded runner's thread): an eval sample that
waited on another worker's turn could take every worker and deadlock.
"""

import re
import time

from django.utils import timezone

from ade.errors import DomainError
from agents.models import Agent
from evals.models import EvalRun

EVAL_TAG = "eval"


class SampleCancelled(Exception):
    """The eval was cancelled while this sample played."""


class SampleFailed(Exception):
    """A turn of the sample did not complete (the model or the machinery failed): graded as an error."""


class Sample:
    def __init__(self, run: EvalRun, result, user, row: dict):
        self.run, self.result, self.user, self.row = run, result, user, row
        self.model, self.index = result.model, result.index
        self.agent: Agent | None = None
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self.latency_ms = 0  # time spent in turns (the model plus Engram), summed over the sample's turns
        self.cost: float | None = None  # USD, when litellm knows the model's price

    def create_agent(self, spec: dict) -> Agent:
        """The agent under test: the eval's target spec, the suite's `spec` on top (its blocks added), this model."""
        from agents.actions import create_agent

        target = dict(self.run.target or {})
        blocks = list(target.pop("memory_blocks", None) or []) + list(spec.pop("memory_blocks", None) or [])
        tools = list(target.pop("tools", None) or []) + list(spec.pop("tools", None) or [])
        full = {
            **target,
            **spec,
            "name": agent_name(f"eval {self.run.suite} {self.index} {self.model}"),
            "model": self.model,
            "memory_blocks": blocks,
            "hidden": True,
            "tags": [EVAL_TAG, self.run.id],
            "metadata": {"eval": {"id": self.run.id, "index": self.index, "model": self.model}},
        }
        if tools:
            full["tools"] = sorted(set(tools))
        self.agent = create_agent(self.user, full)
        type(self.result).objects.filter(id=self.result.id).update(agent=self.agent)
        return self.agent

    def say(self, text: str) -> str:
        """One user turn; the agent's reply (its assistant messages' text)."""
        from agents.runs import execute, start_turn

        self._check_cancelled()
        run = start_turn(self.user, self.agent.id, [{"role": "user", "content": text}])
        started = time.perf_counter()
        try:
            run = execute(run.id)
        except DomainError as exc:
            raise SampleFailed(str(exc)) from exc
        except Exception as exc:  # the loop recorded it on the run; the sample is an error, the eval goes on
            raise SampleFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.latency_ms += int((time.perf_counter() - started) * 1000)
        for key in self.usage:
            self.usage[key] += int((run.usage or {}).get(key) or 0)
        self._add_cost(run.usage or {})
        if run.status == "cancelled":
            raise SampleCancelled  # cancel_eval stopped the turn that was playing
        if run.status != "completed":
            raise SampleFailed(run.error or f"the turn ended {run.status} ({run.stop_reason})")
        return reply_text(((run.metadata or {}).get("result") or {}).get("messages") or [])

    def _add_cost(self, usage: dict) -> None:
        config = self.agent.llm_config or {}
        if config.get("provider_name") in ("engram", "local") or not config.get("model"):
            return  # Engram's own simulators cost nothing
        from agents.runtime.llm import litellm

        try:
            prompt, completion = litellm().cost_per_token(
                model=config["model"],
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        except Exception:  # a model litellm has no price for: cost unknown
            return
        self.cost = (self.cost or 0.0) + prompt + completion

    def reset(self) -> None:
        """A fresh context: the in-context messages go (stored ones stay), memory blocks are kept."""
        from agents.actions import reset_messages

        self._check_cancelled()
        self.agent = reset_messages(self.user, self.agent.id)

    def block(self, label: str) -> str:
        block = self.agent.blocks.filter(label=label).first() if self.agent else None
        return block.value if block else ""

    def _check_cancelled(self) -> None:
        """Before each turn: stop when the eval was cancelled, else leave a sign of life (evals.runner.recover)."""
        if not EvalRun.objects.filter(id=self.run.id, status="running").update(heartbeat_at=timezone.now()):
            raise SampleCancelled


def agent_name(text: str) -> str:
    """An agent name from suite and model names: only the characters agent names allow (no "/" or ".")."""
    return re.sub(r"[^\w '-]+", "-", text)[:190]


def reply_text(messages: list[dict]) -> str:
    """The words the agent said to the user in a turn (assistant messages, or send_message's argument)."""
    said = [m.get("content") for m in messages if m.get("message_type") == "assistant_message"]
    parts = []
    for content in said:
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content:
            parts.append(str(content))
    return "\n".join(parts)
