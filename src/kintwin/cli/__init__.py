"""The ``kintwin`` command line: one module per subcommand in this package.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``
returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("demo", "model", "id", "ik", "train", "analyze", "muscles")


def _load(name):
    try:
        return importlib.import_module(f"kintwin.cli.{name}_cmd")
    except ModuleNotFoundError as e:
        if e.name == f"kintwin.cli.{name}_cmd":
            return None  # not built yet
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kintwin", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..sim.floor import NonLevelSupportError

    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except NonLevelSupportError as e:  # the input is valid, the model cannot do it: refused
        print(f"kintwin {args.command}: refused: {e}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"kintwin {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
