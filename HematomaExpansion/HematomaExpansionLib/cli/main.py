"""`hematoma-expansion` command line: segment, predict, batch, label, train, evaluate, demo, ...

Each command group lives in its own module exposing ``register(subparsers)``; this file only
builds the parser and turns user errors into one clear line and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..core.errors import HematomaExpansionError
from . import case_commands, compare_commands, model_commands, segmentation_commands

log = logging.getLogger("hematoma_expansion")

COMMAND_MODULES = (case_commands, model_commands, segmentation_commands, compare_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hematoma-expansion",
        description=(
            "Segment intracerebral hemorrhage on a baseline non-contrast head CT, measure it, and "
            "predict hematoma expansion. Research use only; not a medical device."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except HematomaExpansionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user mistake: one line unless --debug
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
