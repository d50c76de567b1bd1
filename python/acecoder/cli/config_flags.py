"""Passing a training config's own settings through the ``acecoder`` command line as ``--name value`` flags.

A training config has hundreds of settings (from ``TrainingArguments``), known only once TRL is imported, which
``acecoder --help`` must not do. The top-level parser rejects unknown flags, so a training verb's parser hands them
over as ``arguments.overrides`` instead, for the config's own parser to check (and reject with a clear message).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_training_arguments(parser: argparse.ArgumentParser, data_flag: str, data_help: str, output_help: str) -> None:
    """The flags every training verb has: --config, its data flag, --model, --output-dir, --list-settings, and any
    setting of the config as ``--name value``."""
    parser.add_argument("--config", default=None, help="YAML of settings (flags override it)")
    parser.add_argument(data_flag, default=None, help=data_help)
    parser.add_argument("--model", default=None, help="model to start from: hub id or directory, .gguf file, or "
                        "'smollm2' (the packaged SmolLM2-135M-Instruct)")  # fmt: skip
    parser.add_argument("--output-dir", default=None, help=output_help)
    parser.add_argument("--list-settings", action="store_true", help="print every setting `--name value` accepts")
    accept_config_flags(parser)


def print_table(rows: list[tuple[str, str]]) -> None:
    """Name and value columns, names padded to the longest."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def accept_config_flags(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` collect the flags it does not know into ``overrides`` rather than fail on them."""
    parser.set_defaults(overrides=[])
    parse_known = parser.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, unknown = parse_known(args, namespace)
        parsed.overrides = [*getattr(parsed, "overrides", []), *unknown]
        return parsed, []

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign, assignment]


def named_overrides(overrides: list[str], named: dict[str, object]) -> list[str]:
    """``overrides`` followed by ``--name value`` for each named flag that was given: last, so they win."""
    result = list(overrides)
    for flag, value in named.items():
        if value is not None:
            result += [flag, str(value)]
    return result
