"""Read an LLM's test-synthesis reply into a question and a list of clean ``assert`` tests.

AceCoder (arXiv 2502.01718) asks a model to rewrite seed code as a LeetCode-style question plus about 20 tests,
answered as JSON ``{"question": ..., "tests": ["assert ...", ...]}``. Real replies rarely arrive clean: they hit
the token limit mid-test, sit inside a Markdown fence, open with chatter ("Sure! Here is..."), escape quotes the
Python way (``\\'``) or come back as a Python dict. Every reply that carries usable tests is worth keeping, because
each one cost a generation, so this module repairs what it safely can and says what it did.

The one rule repair never bends: a test cut off by truncation is dropped, never kept half. A half test can still
parse (``assert f(1) == [1, 2`` cut to ``assert f(1)``) and would then pass for the wrong reason.

Kept tests must each be exactly one ``assert`` statement that parses, appear once, and reach nothing outside the
program under test (files, network, processes, randomness, clocks, dynamic code; ``acecoder.synth.safety`` checks
what a test can get hold of, not how it spells it): a test whose outcome depends on the machine or the moment
cannot tell a right program from a wrong one.

Parsing is linear in the reply's length: a reply built to be slow (megabytes of ``{``) costs a few passes over it.

Failures are values: ``parse_reply`` never raises on any input; ``ParsedReply.error`` names what was missing.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from acecoder.extract import parse_python
from acecoder.synth.safety import unsafe_reason

__all__ = ["DROP_REASONS", "ParseError", "ParsedReply", "filter_tests", "parse_reply", "parse_test_lines"]

ParseError = Literal["no_json", "no_question", "no_tests"]

# Why a candidate test was dropped; every ParsedReply.dropped holds all keys, so counts add up across replies
# ("no_call": a test that never calls the function it is for, from the line format, which knows the name).
DROP_REASONS: tuple[str, ...] = ("not_a_string", "syntax", "not_assert", "duplicate", "unsafe", "no_call")

# The decoder accepts raw control characters (newlines, tabs) inside strings: models emit them and they are
# unambiguous, so tolerating them is not counted as a repair.
_DECODER = json.JSONDecoder(strict=False)

# Repair is a full scan per candidate `{`; a reply with more braces than this before its JSON is not worth it.
_MAX_REPAIR_CANDIDATES = 64
# ... and those scans together read at most this many characters (or twice the reply, if more: its first
# candidate's two attempts), so a reply made of braces costs a few passes over it rather than 128. Replies under
# ~8,000 characters never reach the budget; longer ones only when braces that never close precede their JSON.
_REPAIR_BUDGET = 1_000_000
# The strict pass tries every ``{`` that may open an object with keys, through a window of the text (see
# ``_decode_strict``), within its own budget; a decode error this close to a window's end may be the cut's doing.
_STRICT_BUDGET = 8_000_000
_WINDOW = 256
_CUT_MARGIN = 16
_OBJECT_START = re.compile(r'\{\s*"')

_FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.MULTILINE | re.DOTALL)
# A fence glued to a single test: "```python\nassert ...```" or "```assert ...".
_STRAY_FENCE = re.compile(r"^```(?:[\w+-]*[ \t]*\n)?")
_KEY_FIRST = re.compile(r"""\{\s*["'](?:question|tests)["']\s*:""")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_VALID_ESCAPES = frozenset('"\\/bfnrt')
_CLOSERS = {"{": "}", "[": "]"}
# The containers open at a point of a scan, innermost first: (opener, the ones around it).
_OpenContainers = tuple[str, "_OpenContainers"] | None


@dataclass
class ParsedReply:
    """What one reply yielded. ``tests`` are the kept tests; ``candidates`` counts the entries of the JSON "tests"
    array before filtering; ``repaired`` is True when the JSON itself had to be fixed (truncation closed, invalid
    escapes rewritten, Python-literal fallback); ``error`` is None on success."""

    question: str | None = None
    tests: list[str] = field(default_factory=list)
    candidates: int = 0
    repaired: bool = False
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    error: ParseError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_reply(text: str) -> ParsedReply:
    """Parse one synthesis reply. Never raises: whatever is missing comes back as ``error``."""
    decoded = _find_object(text)
    if decoded is None:
        return ParsedReply(error="no_json")
    payload, repaired = decoded

    question = payload.get("question")
    raw_tests = payload.get("tests")
    candidates: list[object] = raw_tests if isinstance(raw_tests, list) else []
    tests, dropped = filter_tests(candidates)
    reply = ParsedReply(tests=tests, candidates=len(candidates), repaired=repaired, dropped=dropped)
    if isinstance(question, str) and question.strip():
        reply.question = question.strip()
    else:
        reply.error = "no_question"
    if reply.error is None and not tests:
        reply.error = "no_tests"
    return reply


def parse_test_lines(texts: Sequence[str], start: str, name: str, question: str | None) -> ParsedReply:
    """The tests of the small-model format: each of ``texts`` continues ``start`` (a code block begun with
    ``assert name(``); every line up to the block's end that starts with ``assert`` is a candidate. A sample that
    stopped mid-line (its token limit) loses that line: a half test is never kept. Never raises."""
    if not question:
        return ParsedReply(error="no_question")
    candidates: list[str] = []
    for text in texts:
        if not isinstance(text, str):
            continue
        body = start + text
        body = body[body.index("\n") + 1 :] if body.startswith("```") and "\n" in body else body
        closed = "```" in body
        body = body.split("```", 1)[0]
        lines = body.split("\n")
        if not closed and not body.endswith("\n"):
            lines = lines[:-1]  # cut off by the token limit
        candidates.extend(line.strip() for line in lines if line.strip().startswith("assert"))
    tests, dropped = filter_tests(candidates)
    calling = [test for test in tests if _calls(test, name)]
    dropped["no_call"] += len(tests) - len(calling)
    if not calling:
        return ParsedReply(question=question, candidates=len(candidates), dropped=dropped, error="no_tests")
    return ParsedReply(question=question, tests=calling, candidates=len(candidates), dropped=dropped)


def _calls(test: str, name: str) -> bool:
    tree = parse_python(test)
    return tree is not None and any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
        for node in ast.walk(tree)
    )


def filter_tests(candidates: Sequence[object]) -> tuple[list[str], dict[str, int]]:
    """Keep the candidates that are one safe ``assert`` statement each, first occurrence of each, in order.

    Returns the kept tests (stripped source text) and drop counts keyed by every reason in ``DROP_REASONS``.
    Two tests that differ only in whitespace or formatting are duplicates: they compare by their syntax tree.
    """
    kept: list[str] = []
    dropped = dict.fromkeys(DROP_REASONS, 0)
    seen: set[str] = set()
    for candidate in candidates:
        if not isinstance(candidate, str):
            dropped["not_a_string"] += 1
            continue
        source = _strip_stray_fence(candidate)
        tree = parse_python(source)
        if tree is None:
            dropped["syntax"] += 1
        elif len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
            dropped["not_assert"] += 1
        elif unsafe_reason(tree) is not None:
            dropped["unsafe"] += 1
        elif (key := ast.dump(tree)) in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            kept.append(source)
    return kept, dropped


# ---------------------------------------------------------------------------------------------------------------
# Finding the JSON object


def _find_object(text: str) -> tuple[dict[str, object], bool] | None:
    """The reply's payload and whether it needed repair. An object that parses as it stands wins over one that
    needs repair anywhere in the text, so chatter that merely looks broken never shadows the real answer.

    Both passes are budgeted in characters read, a fixed amount or a few times the reply's length if more, so a
    reply built to be slow (a million ``{``) costs a few passes over it, never one pass per brace; the budgets are
    far above what a reply under ~2,000 characters can spend, or a real reply's first candidates."""
    regions = _search_regions(text)
    budget = max(_STRICT_BUDGET, 8 * len(text))
    for region in regions:
        for match in _OBJECT_START.finditer(region):
            if budget <= 0:
                break
            payload, spent = _decode_strict(region, match.start(), budget)
            budget -= spent
            if payload is not None:
                return payload, False
    budget = max(_REPAIR_BUDGET, 2 * len(text))
    for region in regions:
        for start in itertools.islice(_brace_positions(region), _MAX_REPAIR_CANDIDATES):
            cost = 2 * (len(region) - start)  # two attempts (JSON, then Python literal), each a scan of the tail
            if cost > budget:
                return None
            budget -= cost
            payload = _decode_repaired(region[start:])
            if payload is not None:
                return payload, True
    return None


def _search_regions(text: str) -> list[str]:
    """Fenced bodies first (an unclosed fence runs to the end: truncation), then the whole reply as a fallback.
    A fence stops a repair scan from running into the chatter after the JSON."""
    regions = [match.group(1) for match in _FENCE.finditer(text)]
    regions.append(text)
    return list(dict.fromkeys(regions))


def _brace_positions(text: str) -> Iterator[int]:
    position = text.find("{")
    while position != -1:
        yield position
        position = text.find("{", position + 1)


def _has_payload_keys(value: object) -> bool:
    return isinstance(value, dict) and ("question" in value or "tests" in value)


def _decode_strict(text: str, start: int, budget: int) -> tuple[dict[str, object] | None, int]:
    """The payload object that starts at ``start``, if one does, and the characters that finding out cost.

    The decoder reads a window of the text that doubles until the answer cannot depend on where it was cut:
    decoding the whole tail from every candidate would be quadratic (and so would the line count each decode
    error computes over the text before it). A value decoded inside a window is the one the whole tail holds;
    a failure is final unless it lies where the cut could have caused it (an open string, the last characters)."""
    spent = 0
    size = _WINDOW
    while True:
        window = text[start : start + size]
        spent += len(window)
        try:
            value, _ = _DECODER.raw_decode(window)
        except RecursionError:
            return None, spent
        except json.JSONDecodeError as error:
            cut_short = start + size < len(text)
            if not cut_short or spent >= budget:
                return None, spent
            if error.pos < len(window) - _CUT_MARGIN and not error.msg.startswith("Unterminated string"):
                return None, spent
            size *= 2
            continue
        except ValueError:
            return None, spent
        return (value if _has_payload_keys(value) else None), spent


def _decode_repaired(tail: str) -> dict[str, object] | None:
    """Try the repairs on a text starting at a candidate ``{``: invalid escapes, truncation, Python literal.

    A truncated object whose first key is "question" or "tests" is accepted even when the cut left it empty, so a
    question cut mid-string reports ``no_question`` rather than ``no_json``."""
    escaped = _fix_escapes(tail)
    attempts = [(escaped, _load_json), (tail, _load_python)]
    for source, load in attempts:
        end, closed = _scan(source)
        segment = source[:end] if end is not None else closed
        if segment is None:
            continue
        value = load(segment)
        if isinstance(value, dict) and (_has_payload_keys(value) or (end is None and _KEY_FIRST.match(source))):
            return value
    return None


def _load_json(segment: str) -> object:
    try:
        return _DECODER.decode(segment)
    except (ValueError, RecursionError):
        return None


def _load_python(segment: str) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.literal_eval(segment)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _fix_escapes(text: str) -> str:
    """Rewrite escapes JSON forbids: ``\\'`` becomes ``'`` (Python habit), any other invalid ``\\x`` keeps its
    backslash literally (``\\d`` in a regex test stays ``\\d``)."""

    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape == "'":
            return "'"
        if escape in _VALID_ESCAPES or len(escape) == 5:
            return match.group(0)
        return "\\\\" + escape

    return _ESCAPE.sub(replace, text)


def _scan(text: str) -> tuple[int | None, str | None]:
    """Walk a JSON-like text that starts with ``{``, tracking strings, escapes and open containers.

    Returns ``(end, None)`` when the object closes (``text[:end]`` is the whole object), or ``(None, closed)`` when
    the text ends first: ``closed`` is the text cut at the last safe point (after a complete value, before a comma,
    just inside an opening bracket) with its open containers closed. A string still open at the cut, such as a test
    cut in the middle, is never before a safe point and so is dropped whole. ``(None, None)`` when brackets mismatch.
    """
    # The open containers are a linked list of (opener, rest) cells rather than a list: a safe cut keeps the cell it
    # saw, in constant time, where copying a list at every cut made ``{{{{...`` quadratic (300,000 braces: minutes).
    stack: _OpenContainers = None
    quote: str | None = None
    escaped = False
    expecting_key = False
    string_is_key = False
    safe_cut: tuple[int, _OpenContainers] | None = None
    for index, char in enumerate(text):
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
                if not string_is_key:
                    safe_cut = (index + 1, stack)
            continue
        if char in "\"'":
            quote, string_is_key, expecting_key = char, expecting_key, False
        elif char in "{[":
            stack = (char, stack)
            expecting_key = char == "{"
            safe_cut = (index + 1, stack)
        elif char in "}]":
            if stack is None or _CLOSERS[stack[0]] != char:
                return None, None
            stack = stack[1]
            if stack is None:
                return index + 1, None
            expecting_key = False
            safe_cut = (index + 1, stack)
        elif char == ",":
            if stack is not None:
                expecting_key = stack[0] == "{"
                safe_cut = (index, stack)
        elif char == ":":
            expecting_key = False
    if safe_cut is None:
        return None, None
    cut, open_containers = safe_cut
    closers: list[str] = []
    while open_containers is not None:
        closers.append(_CLOSERS[open_containers[0]])
        open_containers = open_containers[1]
    return None, text[:cut].rstrip().removesuffix(",") + "".join(closers)


# ---------------------------------------------------------------------------------------------------------------
# Checking one test


def _strip_stray_fence(candidate: str) -> str:
    source = _STRAY_FENCE.sub("", candidate.strip(), count=1)
    return source.strip().removesuffix("```").strip()
