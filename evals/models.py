"""Eval runs (a suite × models × samples, run as fresh agents) and their per-sample results; user suites."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from accounts.models import Organization
from ade.ids import PrefixedIdField

RUN_STATUSES = ("created", "running", "completed", "cancelled", "failed")
RESULT_STATUSES = ("pending", "running", "done", "error", "cancelled")
GRADERS = ("contains", "exact", "judge")


class EvalRun(models.Model):
    """One eval: `suite` played with each of `model_handles` on `samples` samples, `concurrency` at a time."""

    id = PrefixedIdField("eval")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="eval_runs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suite = models.CharField(max_length=120)
    model_handles = models.JSONField(default=list, help_text="Model handles, e.g. ['engram/oracle', 'openai/gpt-4.1'].")
    target = models.JSONField(default=dict, blank=True, help_text="A partial CreateAgent spec: the agent under test.")
    options = models.JSONField(default=dict, blank=True, help_text="Suite options: file, judge model, ...")
    samples = models.PositiveIntegerField()
    concurrency = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=12, choices=[(s, s) for s in RUN_STATUSES], default="created")
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="Per model: score, samples, tokens, latency.")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of a player: a turn started or a sample finished."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    @property
    def is_finished(self) -> bool:
        return self.status in ("completed", "cancelled", "failed")


class EvalResult(models.Model):
    """One sample of one model: its agent (the transcript), question, answer and grade."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    model = models.CharField(max_length=200)
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=[(s, s) for s in RESULT_STATUSES], default="pending")
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    question = models.TextField(blank=True, default="")
    expected = models.TextField(blank=True, default="")
    answer = models.TextField(blank=True, default="")
    score = models.FloatField(null=True, blank=True, help_text="0..1")
    grade = models.JSONField(default=dict, blank=True, help_text="Grader details: contains, judge verdict, ranks...")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost = models.FloatField(null=True, blank=True, help_text="USD, when the provider's price is known")
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "model", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "model", "index"], name="eval_result_unique_sample")]
        indexes = [models.Index(fields=["run", "status"])]


class UserSuite(models.Model):
    """A suite an organization added: rows in the core-memory JSONL format and a grader."""

    id = PrefixedIdField("evalsuite")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="eval_suites")
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True, default="")
    grader = models.CharField(max_length=12, choices=[(g, g) for g in GRADERS], default="contains")
    rows = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="eval_suite_unique_name")]
