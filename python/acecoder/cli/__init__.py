"""The ``acecoder`` command: ``acecoder <verb> [options]``.

Each verb lives in its own module and imports what it needs when it runs, so ``acecoder --help`` stays fast and
light. ``main(argv)`` returns the exit code, which makes every verb callable from tests. Flags that mean the same
thing in several verbs share one name (``acecoder.cli.vocabulary``), and every verb's help shows each default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acecoder.cli import (
    audit,
    bench,
    bon,
    calibrate,
    demo,
    evaluate,
    hard_subset,
    pairs,
    passrate,
    report,
    sample,
    serve_reward,
    synth,
    train_rl,
    train_rm,
)

VERBS = {
    "demo": demo,
    "synth": synth,
    "audit": audit,
    "sample": sample,
    "calibrate": calibrate,
    "passrate": passrate,
    "pairs": pairs,
    "hard-subset": hard_subset,
    "report": report,
    "train-rm": train_rm,
    "train-rl": train_rl,
    "serve-reward": serve_reward,
    "bon": bon,
    "evaluate": evaluate,
    "bench": bench,
}


def build_parser() -> argparse.ArgumentParser:
    from acecoder import __version__
    from acecoder._engine import __version__ as engine_version
    from acecoder.cli.vocabulary import HelpFormatter

    parser = argparse.ArgumentParser(prog="acecoder", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"acecoder {__version__} (engine {engine_version})")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, module in VERBS.items():
        verb_parser = subparsers.add_parser(name, help=module.HELP, description=module.__doc__,
                                            formatter_class=HelpFormatter)  # fmt: skip
        module.add_arguments(verb_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as stop:  # a bad flag (2) or --help (0): an exit status, as every other outcome is
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    try:
        return int(VERBS[arguments.verb].run(arguments) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
