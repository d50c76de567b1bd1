"""Flag declarations the verbs share: numeric flag types that turn a bad value into a clear argparse error, and
passing a training config's own settings through the ``acecoder`` command line as ``--name value`` flags.

Numbers: a flag declared ``type=positive_int`` (or another type below) is checked while the command line is
parsed, so ``--workers -1`` ends in ``argument --workers: must be at least 1, got -1`` and exit status 2, never in
a traceback from deep inside the engine. Numeric flags use these types rather than plain ``int`` or ``float``
(``tests/test_cli_errors.py`` lists the few that do not yet).

Training configs: a training config has hundreds of settings (from ``TrainingArguments``), known only once TRL is
imported, which ``acecoder --help`` must not do. The top-level parser rejects unknown flags, so a training verb's
parser hands them over as ``arguments.overrides`` instead, for the config's own parser to check (and reject with a
clear message).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any


def integer_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def number_in(low: float, high: float = math.inf, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < low or (low_open and value == low):
            bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value:g}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {value:g}")
        return value

    return parse


positive_int = integer_at_least(1)  # counts: workers, samples, tokens, tasks
non_negative_int = integer_at_least(0)  # seeds (numpy and torch refuse negative ones), minimum counts
port_number = integer_at_least(0, 65535)  # 0: the system picks a free port
positive_float = number_in(0.0, low_open=True)  # seconds, factors
non_negative_float = number_in(0.0)  # temperatures
fraction = number_in(0.0, 1.0)  # pass-rate thresholds
probability = number_in(0.0, 1.0, low_open=True)  # top-p


def add_training_arguments(parser: argparse.ArgumentParser, input_help: str, output_help: str) -> None:
    """The flags every training verb has: --config, --input, --model, --output-dir, --list-settings, and any setting
    of the config as ``--name value`` (TRL's underscore spelling or the dashed one). The named flags are the shared
    vocabulary's names for settings the config also takes under its own (``--input`` is train-rm's ``pairs`` and
    train-rl's ``dataset``), so either spelling works and neither is deprecated."""
    parser.add_argument("--config", default=None, help="YAML of settings, which flags override (default: none)")
    parser.add_argument("--input", default=None, help=input_help)
    parser.add_argument("--model", default=None, help="model to start from: hub id or directory, .gguf file, or "
                        "'smollm2', the packaged SmolLM2-135M-Instruct (default: the config's model_name_or_path)")  # fmt: skip
    parser.add_argument("--output-dir", default=None, help=output_help)
    parser.add_argument("--list-settings", action="store_true", help="print every setting `--name value` accepts")
    accept_config_flags(parser)


def training_config(
    arguments: argparse.Namespace, config_class: type, prog: str, settings: dict[str, str]
) -> tuple[Any | None, int]:
    """The training config the command line describes, or None and an exit status: 0 after ``--list-settings``
    printed the settings, 2 after an error line. ``settings`` maps named flags' destinations to the config fields
    they set (``{"input": "pairs", "model": "model_name_or_path", ...}``); given ones come after the ``--name
    value`` flags, so they win over the same setting given both ways."""
    from acecoder.cli.vocabulary import SettingsHelpFormatter
    from acecoder.train.config import config_parser, load_config

    if arguments.list_settings:
        config_parser(config_class, prog, formatter_class=SettingsHelpFormatter).print_help()
        return None, 0
    named = {f"--{setting}": getattr(arguments, destination) for destination, setting in settings.items()}
    try:
        return load_config(arguments.config, named_overrides(arguments.overrides, named), config_class, prog), 0
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None, 2


def train_and_report_errors(train: Callable[[Any], dict | None], config: Any) -> dict | int:
    """``train(config)``'s metrics, or the exit status to return: 2 after an error line for a bad file or setting
    found while training starts, 0 on a process of a distributed run other than the main one (it writes nothing)."""
    try:
        metrics = train(config)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return metrics if metrics else 0


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
