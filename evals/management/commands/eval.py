"""`manage.py eval SUITE --model M [--model M2] [--samples N] [--concurrency C] [--file PATH] [--user NAME]
[--target JSON]`: run an
eval, draw a progress bar, print the results table. `manage.py eval --add-suite NAME --file rows.jsonl
[--grader contains|exact|judge]` adds a suite of your own. Without `--user`, evals run as the user `eval-cli` of the
organization "Evals (command line)" (made on first use)."""

import json
import threading

from django.core.management.base import BaseCommand, CommandError

from ade.errors import DomainError
from evals import actions, runner

CLI_USER = "eval-cli"


class Command(BaseCommand):
    help = "Run a memory eval (suites: manage.py eval --list) and print a results table."

    def add_arguments(self, parser):
        parser.add_argument("suite", nargs="?")
        parser.add_argument("--model", action="append", dest="models", default=[], help="model handle (repeatable)")
        parser.add_argument("--samples", type=int)
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--file", help="a JSONL file of rows (suites that read data; --add-suite)")
        parser.add_argument("--user", help="user name to run as (default: eval-cli)")
        parser.add_argument(
            "--target", type=json.loads, help='the agent under test, e.g. \'{"agent_type": "memgpt_v2_agent"}\''
        )
        parser.add_argument("--list", action="store_true", help="list the suites")
        parser.add_argument("--add-suite", metavar="NAME", help="add a suite of your own from --file")
        parser.add_argument("--grader", default="contains", choices=["contains", "exact", "judge"])

    def handle(self, *args, **opts):
        user = _user(opts["user"])
        try:
            if opts["list"]:
                for s in actions.suites_for(user):
                    self.stdout.write(f"{s['name']:<24} {s['samples'] or '-':>6}  {s['title']}")
                return
            if opts["add_suite"]:
                if not opts["file"]:
                    raise CommandError("--add-suite needs --file rows.jsonl")
                with open(opts["file"]) as f:
                    suite = actions.add_suite(user, name=opts["add_suite"], jsonl=f.read(), grader=opts["grader"])
                self.stdout.write(f"Added suite {suite.name!r} ({len(suite.rows)} rows, grader {suite.grader})")
                return
            if not opts["suite"]:
                raise CommandError("name a suite (manage.py eval --list)")
            run = actions.start_eval(
                user,
                suite=opts["suite"],
                models=opts["models"] or _default_models(opts["suite"]),
                samples=opts["samples"],
                concurrency=opts["concurrency"],
                file=opts["file"],
                target=opts["target"],
                launch=False,
            )
        except DomainError as exc:
            raise CommandError(f"{exc.field + ': ' if getattr(exc, 'field', None) else ''}{exc}") from exc
        run = self._play(run)
        self._table(run)

    def _play(self, run):
        from ade.queue import enqueue
        from agents.runs import runs_on_workers

        self.stdout.write(f"{run.id}: {run.suite} × {', '.join(run.model_handles)}, {run.total} samples")
        if runs_on_workers():
            enqueue("evals.start", run.id)
        else:
            threading.Thread(target=runner._closing(runner.run_here), args=(run.id,), daemon=True).start()
        try:
            run = runner.wait(run.id, on_progress=self._bar)
        except KeyboardInterrupt:
            actions.cancel_eval(run.created_by, run.id)
            raise CommandError("cancelled") from None
        self.stdout.write("")
        return run

    def _bar(self, run):
        width = 30
        filled = int(width * run.done / max(run.total, 1))
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {run.done}/{run.total} {run.status}"
        if self.stdout.isatty():
            self.stdout.write("\r" + bar, ending="")
            self.stdout.flush()
        elif filled != getattr(self, "_drawn", None) or run.is_finished:  # a log: one line per step of the bar
            self._drawn = filled
            self.stdout.write(bar)

    def _table(self, run):
        self.stdout.write(f"{run.suite}: {run.status}{' — ' + run.error if run.error else ''}")
        self.stdout.write(f"{'model':<32}{'score':>8}{'samples':>9}{'errors':>8}{'tokens':>10}{'p50 ms':>9}")
        for handle, s in run.summary.items():
            score = "-" if s["score"] is None else f"{s['score']:.1f}%"
            p50 = "-" if s["p50_latency_ms"] is None else str(s["p50_latency_ms"])
            self.stdout.write(f"{handle:<32}{score:>8}{s['samples']:>9}{s['errors']:>8}{s['tokens']:>10}{p50:>9}")
            for mode in ("vector", "fts", "hybrid") if s.get("modes") else ():
                m = s["modes"][mode]
                self.stdout.write(
                    f"  {mode:<8} recall@5 {m['recall@5']:.3f}  recall@10 {m['recall@10']:.3f}  MRR {m['mrr']:.3f}"
                )
        failed = [r for r in run.results.filter(status="error")[:5]]
        for r in failed:
            self.stdout.write(f"  error in sample {r.index} ({r.model}): {r.error[:200]}")
        if run.status != "completed":
            raise CommandError(f"the eval ended {run.status}")


def _default_models(suite: str) -> list[str]:
    from agents.runtime.providers import LOCAL_EMBED_HANDLE, ORACLE_HANDLE

    return [LOCAL_EMBED_HANDLE] if suite in ("archival-retrieval", "conversation-retrieval") else [ORACLE_HANDLE]


def _user(name: str | None):
    from accounts.actions import create_user
    from accounts.models import User

    if name:
        user = User.objects.filter(username=name).first()
        if user is None:
            raise CommandError(f"no user named {name!r}")
        return user
    user = User.objects.filter(username=CLI_USER).first()
    return user or create_user(CLI_USER, None, org_name="Evals (command line)")
