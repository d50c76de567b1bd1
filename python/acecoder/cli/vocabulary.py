"""The command line's shared vocabulary: one flag name per concept across every verb, the old spellings that still
parse (with a one-line notice on stderr), and the help formatter that shows every default.

Why a table: the per-test CPU limit was once ``--test-seconds``, ``--timeout``, ``--min-time-limit`` and
``test_cpu_seconds`` in four verbs, and ``--timeout`` also meant HTTP seconds in a fifth. A user who learnt one verb
guessed wrong in the next. ``SHARED_FLAGS`` names each concept once; verbs declare a shared flag with
``add_option`` and give their old spelling as ``old=``, which keeps scripts working while it tells their authors the
new name. ``tests/test_cli_vocabulary.py`` reads this table and every verb's parser and fails when one concept is
spelled two ways. The README's "Shared flags" table is this table in prose.

The notice is a plain stderr line, not ``warnings.warn``: it is meant for a person at a terminal, and a warning
filter (pytest's ``error``, ``python -W``) must not turn an accepted spelling into a crash.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SharedFlag:
    """One concept and its one flag. ``old``: spellings some verb used before, still accepted there.
    ``setting``: the training configs' own field for it (train-rm, train-rl take it too, TRL-style)."""

    flag: str
    meaning: str
    default: str
    verbs: str
    old: tuple[str, ...] = ()
    setting: str | None = None


# fmt: off
SHARED_FLAGS = (
    SharedFlag("--input", "the rows (or samples) the verb reads", "required, except sample and synth (bundled MBPP)",
               "sample, synth, audit, calibrate, passrate, pairs, hard-subset, report, evaluate, bon, serve-reward, demo, train-rm, "
               "train-rl",
               old=("--seeds", "--samples", "--questions", "--dataset", "report's PATH")),
    SharedFlag("--output", "the file the verb writes (.jsonl or .parquet)", "required, except evaluate and demo",
               "sample, synth, audit, calibrate, passrate, pairs, hard-subset, evaluate, demo"),
    SharedFlag("--output-dir", "the directory the verb writes into", "per verb", "demo, bon, report, train-rm, train-rl",
               old=("--plots",), setting="output_dir"),
    SharedFlag("--limit", "only the first N rows (questions, seeds or tasks)", "all (demo: 6)",
               "sample, synth, audit, demo, bon, train-rl", old=("--tasks", "--questions"), setting="max_questions"),
    SharedFlag("--n", "samples per question", "16 (synth: 8 replies per seed)", "sample, demo, bon, synth",
               old=("--samples",)),
    SharedFlag("--workers", "sandboxed engine workers", "one per usable CPU",
               "synth, audit, calibrate, passrate, demo, evaluate, bon, serve-reward, bench, train-rl", setting="engine_workers"),
    SharedFlag("--test-cpu-seconds", "CPU seconds one test may use", "the engine's (4)",
               "audit, calibrate, passrate, serve-reward, evaluate, train-rl",
               old=("--test-seconds", "--timeout", "--min-time-limit"),
               setting="test_cpu_seconds"),
    SharedFlag("--request-timeout", "seconds one HTTP request may take, the whole reply included (openai backend)",
               "120", "synth, sample, bon", old=("--timeout",)),
    SharedFlag("--model", "model: hub id or directory, .gguf file, or 'smollm2'", "required where it is used",
               "synth, sample, bon, train-rm, train-rl", setting="model_name_or_path"),
    SharedFlag("--reference-column", "the column holding each question's reference solution",
               "required (audit: the oracle solution synth keeps, provenance.oracle_solution)", "audit, calibrate"),
)
# fmt: on


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already speaks of its default, and
    ``(required)`` to a required one; a switch (``store_true``) is off unless given and says nothing.

    An option whose default is None must say in its help what None means (``tests/test_cli_vocabulary.py`` checks),
    since "(default: None)" tells a reader nothing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not action.option_strings or "default" in text or "%(default)" in text or action.help == argparse.SUPPRESS:
            return action.help
        if action.required:
            return f"{text} (required)".lstrip()
        if action.nargs == 0 or action.default is None or action.default == argparse.SUPPRESS:
            return action.help
        return f"{text} (default: %(default)s)".lstrip()


class SettingsHelpFormatter(HelpFormatter):
    """For a training config's settings (``--list-settings``): None is the config's own "unset", so it is shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.option_strings and action.default is None and "default" not in text:
            return f"{text} (default: None)".lstrip()
        return super()._get_help_string(action)


class DeprecatedSpelling(argparse.Action):
    """An old spelling of ``canonical``: parses as it does, after one line on stderr naming the new flag."""

    def __init__(self, option_strings: Sequence[str], dest: str, canonical: argparse.Action, **kwargs: Any) -> None:
        same: dict[str, Any] = {"nargs": canonical.nargs, "type": canonical.type, "choices": canonical.choices,
                                "metavar": canonical.metavar}  # fmt: skip
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **same)
        self.canonical = canonical

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        print(f"{parser.prog}: {option_string} is deprecated; use {self.canonical.option_strings[0]}", file=sys.stderr)
        self.canonical(parser, namespace, values, option_string)


def add_option(parser: Any, flag: str, *, old: Sequence[str] = (), **kwargs: Any) -> argparse.Action:
    """``parser.add_argument(flag, **kwargs)`` (``parser`` may be a group), plus each ``old`` spelling as a hidden
    deprecated twin with the same destination, type and choices.

    argparse counts a required option as given only when its own spelling is, so a required flag and its old
    spellings go into a required group of which exactly one must be given (the error names only the new flag)."""
    if kwargs.get("required") and old:
        kwargs["required"] = False
        kwargs["help"] = f"{kwargs.get('help') or ''} (required)".lstrip()
        parser = parser.add_mutually_exclusive_group(required=True)
    action: argparse.Action = parser.add_argument(flag, **kwargs)
    for spelling in old:
        parser.add_argument(spelling, action=DeprecatedSpelling, dest=action.dest, canonical=action)
    return action


def keyword_default(function: Callable[..., Any], name: str) -> Any:
    """The default of ``function``'s parameter ``name``: a flag's default read from the library it configures,
    never a copy that can drift from it."""
    return inspect.signature(function).parameters[name].default


def shared_flag(flag: str) -> SharedFlag:
    """The table's entry for ``flag``."""
    for entry in SHARED_FLAGS:
        if entry.flag == flag:
            return entry
    raise KeyError(flag)
