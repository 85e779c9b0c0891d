"""The `awr-mimic` command line.

Each subcommand is a module in this package with ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``. Commands are thin shells over the library; user errors
(:class:`awr_mimic.errors.AwrMimicError`) are printed as one line, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module (relative to this package)
COMMANDS = {
    "train": "train",
    "eval": "evaluate",
    "collect": "collect",
    "clips": "clips",
    "bench": "bench",
    "view": "view",
    "render": "render",
    "export": "export",
    "character": "character",
    "retarget": "retarget",
    "plot": "plot",
    "motion": "motion",
    "slim": "slim",
    "controllers": "controllers",
    "convert-checkpoint": "convert",
}


def _available_commands():
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module_name}":
                continue  # command not built yet
            raise
        yield name, module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="awr-mimic",
        description="Train simulated characters to imitate motion clips with AWR.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in _available_commands():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from awr_mimic.errors import AwrMimicError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except AwrMimicError as exc:
        print(f"awr-mimic: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("awr-mimic: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
