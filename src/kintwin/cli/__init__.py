"""The ``kintwin`` command line: one module per subcommand in this package.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``
returning an exit code.

Exit codes: 0 done; 2 bad input (a file, option or unit we cannot use: nothing was computed and,
unless said otherwise, nothing written); 3 finished but the result is not trustworthy (a trial on
non-level support refused, a twin that fell, an interrupted training run). Errors are one line on
stderr; ``kintwin --debug <command> ...`` shows the traceback instead.
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
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
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
    from xml.etree.ElementTree import ParseError

    from ..errors import EXIT_BAD_INPUT, KintwinError

    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except Exception as e:
        if args.debug:
            raise
        if isinstance(e, KintwinError):
            code, what = e.exit_code, "refused" if e.exit_code != EXIT_BAD_INPUT else "error"
        elif isinstance(e, (ValueError, KeyError, OSError, ParseError)):
            code, what = EXIT_BAD_INPUT, "error"
        else:
            raise  # a bug: the traceback is what a report needs
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"kintwin {args.command}: {what}: {msg}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
