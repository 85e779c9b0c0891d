"""`awr-mimic bench TARGET`: benchmarks that report ratios measured in one run."""
from __future__ import annotations

import importlib

HELP = ("benchmarks: env (env vs raw physics), learn (learner and end-to-end), sample (sampler backends), "
        "arms (learning arms one after another, then a table)")
TARGETS = ("env", "learn", "sample", "arms")


def add_arguments(parser):
    sub = parser.add_subparsers(dest="target", metavar="TARGET")
    sub.required = True
    for target in TARGETS:
        try:
            module = importlib.import_module(f"awr_mimic.bench.{target}")
        except ModuleNotFoundError as exc:
            if exc.name == f"awr_mimic.bench.{target}":
                continue
            raise
        cmd = sub.add_parser(target, help=module.HELP, description=module.__doc__)
        module.add_arguments(cmd)
        cmd.set_defaults(_bench=module.run)


def run(args) -> int:
    return args._bench(args)
