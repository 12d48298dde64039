"""`python manage.py bench <name> [options]`: run the benchmark in agents/benchmarks/<name>.py and print figures."""

import argparse
import importlib
import pkgutil
import re

from django.core.management.base import BaseCommand, CommandError

from agents import benchmarks

DJANGO_OPTIONS = (
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--verbosity",
    "--skip-checks",
)


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))


class Command(BaseCommand):
    help = "Run a benchmark and print its figures. Names: the modules of agents/benchmarks/."

    def add_arguments(self, parser):
        parser.add_argument("name", help="benchmark to run (e.g. runtime)")
        parser.add_argument("options", nargs=argparse.REMAINDER, help="options of that benchmark (--help)")

    def handle(self, *args, name, options, **kwargs):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name not in available():
            raise CommandError(f"unknown benchmark {name!r}; available: {', '.join(available())}")
        # Django's own options (e.g. --settings=...) land in the remainder too; the benchmark must not see them.
        own = [o for o in options if not o.startswith(DJANGO_OPTIONS)]
        importlib.import_module(f"agents.benchmarks.{name}").run(own, self.stdout)
