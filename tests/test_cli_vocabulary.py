"""One concept, one flag: every verb's flags read from the real parser against the table of shared flags
(``acecoder.cli.vocabulary``), so a new verb that spells a shared concept its own way, a flag with underscores, or
a help entry without its default fails here; and the old spellings still parse, each with one notice."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from acecoder.cli import VERBS, build_parser, main
from acecoder.cli.report import input_path
from acecoder.cli.vocabulary import (
    SHARED_FLAGS,
    DeprecatedSpelling,
    HelpFormatter,
    add_option,
    shared_flag,
)

README = Path(__file__).resolve().parents[1] / "README.md"
TRAINING_VERBS = {"train-rm", "train-rl"}

# The least each verb needs to parse; a flag under test replaces its own entry here.
MINIMAL = {
    "sample": ["--output", "o.jsonl", "--backend", "openai", "--model", "m"],
    "synth": ["--output", "o.jsonl", "--backend", "openai", "--model", "m"],
    "passrate": ["--input", "i.jsonl", "--output", "o.jsonl"],
    "pairs": ["--input", "i.jsonl", "--output", "o.jsonl"],
    "hard-subset": ["--input", "i.jsonl", "--output", "o.jsonl"],
    "evaluate": ["--benchmark", "mbpp", "--input", "s.jsonl"],
    "bon": ["--rm", "r", "--input", "q.jsonl"],
    "serve-reward": ["--input", "d.jsonl"],
}


def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's options, old spellings included, --help left out."""
    return [action for action in parser._actions if action.option_strings and action.dest != "help"]


def current_flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in options(parser) if not isinstance(action, DeprecatedSpelling)
            for flag in action.option_strings}  # fmt: skip


def old_spellings() -> list[tuple[str, str, str]]:
    """(verb, old spelling, the flag it stands for) for every deprecated spelling any verb accepts."""
    return [
        (verb, flag, action.canonical.option_strings[0])
        for verb, parser in verb_parsers().items()
        for action in options(parser)
        if isinstance(action, DeprecatedSpelling)
        for flag in action.option_strings
    ]


def words(flag: str) -> tuple[str, ...]:
    return tuple(sorted(re.split(r"[-_]+", flag.strip("-"))))


def test_the_table_spells_each_concept_once():
    canonical = [entry.flag for entry in SHARED_FLAGS]
    assert len(canonical) == len(set(canonical))
    retired = {flag for entry in SHARED_FLAGS for flag in entry.old}
    assert not retired & set(canonical), "an old spelling of one concept is the name of another"


def test_no_verb_uses_an_old_spelling_as_a_current_flag():
    retired = {flag for entry in SHARED_FLAGS for flag in entry.old}
    offending = {(verb, flag) for verb, parser in verb_parsers().items() for flag in current_flags(parser) & retired}
    assert not offending, sorted(offending)


def test_every_old_spelling_a_verb_accepts_is_in_the_table():
    for verb, old, canonical in old_spellings():
        if canonical in {entry.flag for entry in SHARED_FLAGS}:
            assert old in shared_flag(canonical).old, (verb, old, canonical)


def test_one_spelling_per_set_of_words_across_every_verb():
    spellings: dict[tuple[str, ...], set[str]] = {}
    for parser in verb_parsers().values():
        for flag in current_flags(parser):
            if flag.startswith("--"):
                spellings.setdefault(words(flag), set()).add(flag)
    doubled = {key: found for key, found in spellings.items() if len(found) > 1}
    assert not doubled, doubled


def test_flags_use_dashes():
    underscored = {
        (verb, flag) for verb, parser in verb_parsers().items() for flag in current_flags(parser) if "_" in flag
    }
    assert not underscored, sorted(underscored)


def test_the_table_names_the_verbs_that_use_each_flag():
    parsers = verb_parsers()
    for entry in SHARED_FLAGS:
        listed = {verb.strip() for verb in entry.verbs.split(",")}
        assert listed <= set(VERBS), (entry.flag, listed - set(VERBS))
        using = {verb for verb, parser in parsers.items() if entry.flag in current_flags(parser)}
        assert using <= listed, (entry.flag, "used but not listed", using - listed)
        # A verb listed without the flag must be a training verb that takes it as its config's own setting.
        for verb in listed - using:
            assert verb in TRAINING_VERBS and entry.setting is not None, (entry.flag, verb)


def test_every_option_help_shows_its_default_once():
    for verb, parser in verb_parsers().items():
        formatter = HelpFormatter(parser.prog)
        for action in options(parser):
            if isinstance(action, DeprecatedSpelling) or action.nargs == 0:
                continue  # hidden, or a switch (off unless given)
            assert action.help, (verb, action.option_strings, "has no help")
            text = formatter._expand_help(action)
            assert "default" in text or "(required)" in text, (verb, action.option_strings, text)
            assert text.count("default") <= 1, (verb, action.option_strings, text)
            assert "(default: None)" not in text, (verb, action.option_strings)
            assert not re.search(r"\(\d[\d.,]*\)", text), ("a default written by hand", verb, action.option_strings)


def test_the_formatter_adds_the_default_once():
    parser = argparse.ArgumentParser(prog="p", formatter_class=HelpFormatter)
    parser.add_argument("--given", type=int, default=3, help="a count")
    parser.add_argument("--stated", default=None, help="a path (default: none)")
    parser.add_argument("--needed", required=True, help="a file")
    text = parser.format_help()
    assert "a count (default: 3)" in text and "a path (default: none)" in text and "a file (required)" in text
    assert "None" not in text


@pytest.mark.parametrize(("verb", "old", "canonical"), old_spellings())
def test_an_old_spelling_parses_as_the_new_one_and_says_so(verb, old, canonical, capsys):
    minimal = list(MINIMAL.get(verb, []))
    if canonical in minimal:  # the flag under test stands in for its own entry
        index = minimal.index(canonical)
        del minimal[index : index + 2]
    parser = build_parser()
    new = parser.parse_args([verb, *minimal, canonical, "3"])
    assert capsys.readouterr().err == ""
    old_result = build_parser().parse_args([verb, *minimal, old, "3"])
    assert vars(old_result) == vars(new)
    assert capsys.readouterr().err.splitlines() == [f"acecoder {verb}: {old} is deprecated; use {canonical}"]


def test_old_spellings_cover_the_issue():
    accepted = {(verb, old): canonical for verb, old, canonical in old_spellings()}
    assert accepted[("passrate", "--test-seconds")] == "--test-cpu-seconds"
    assert accepted[("serve-reward", "--timeout")] == "--test-cpu-seconds"
    assert accepted[("evaluate", "--min-time-limit")] == "--test-cpu-seconds"
    assert accepted[("sample", "--timeout")] == "--request-timeout"
    assert accepted[("bon", "--tasks")] == accepted[("demo", "--questions")] == "--limit"
    assert accepted[("synth", "--seeds")] == accepted[("bon", "--questions")] == "--input"


def test_an_alias_inside_a_mutually_exclusive_group_still_excludes():
    parser = argparse.ArgumentParser(prog="p")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--benchmark")
    add_option(group, "--input", old=("--questions",))
    with pytest.raises(SystemExit):
        parser.parse_args(["--benchmark", "b", "--questions", "q"])
    assert parser.parse_args(["--questions", "q"]).input == "q"


def test_report_takes_input_or_the_old_bare_path(capsys):
    assert input_path(argparse.Namespace(input="a.jsonl", path=None)) == "a.jsonl"
    assert input_path(argparse.Namespace(input=None, path="b.jsonl")) == "b.jsonl"
    assert capsys.readouterr().err == "acecoder report: a bare PATH is deprecated; use --input PATH\n"
    assert input_path(argparse.Namespace(input="a", path="b")) is None
    assert input_path(argparse.Namespace(input=None, path=None)) is None
    assert main(["report"]) == 2


def test_training_verbs_name_their_settings_with_the_shared_flags():
    arguments = build_parser().parse_args(["train-rl", "--input", "q.jsonl", "--limit", "3", "--workers", "2",
                                           "--test-cpu-seconds", "2", "--max_steps", "1"])  # fmt: skip
    assert (arguments.input, arguments.limit, arguments.workers) == ("q.jsonl", 3, 2)
    # Settings the config itself holds go through to its parser, dashed or TRL's underscores alike.
    assert arguments.overrides == ["--test-cpu-seconds", "2", "--max_steps", "1"]
    legacy = build_parser().parse_args(["train-rm", "--pairs", "p.jsonl", "--learning_rate", "1e-5"])
    assert legacy.input is None and legacy.overrides == ["--pairs", "p.jsonl", "--learning_rate", "1e-5"]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_help_of_every_verb(verb, capsys):
    assert main([verb, "--help"]) == 0
    text = capsys.readouterr().out
    assert "(default: None)" not in text
    retired = {old for listed_verb, old, _ in old_spellings() if listed_verb == verb}
    listed = set(re.findall(r"^  (--[a-z-]+)", text, flags=re.MULTILINE))
    assert listed and not listed & retired, (verb, listed & retired)


def test_the_readme_table_lists_every_shared_flag():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Shared flags") :]
    for entry in SHARED_FLAGS:
        assert re.search(rf"^\| `{re.escape(entry.flag)}`", section, flags=re.MULTILINE), entry.flag
        for old in entry.old:
            if old.startswith("--"):
                assert f"`{old}`" in section, (entry.flag, old)
