"""Finding the question behind a prompt, so the reward server knows which tests to run.

A trainer sends text, not ids: the prompt it gave the policy, usually wrapped in a chat template. So questions are
matched on a *normalised* form (Unicode NFKC, lower case, whitespace runs collapsed to one space, stripped), which
survives templates that re-indent, re-wrap or re-case nothing but whitespace. In order:

1. the label, when the trainer sends one and it equals a row's ``id``;
2. the SHA-256 of the normalised prompt, against each question's own hash and the hash of
   ``policy_prompt(question, test_cases)`` (what ``acecoder train-rl`` and the pairs put before the policy);
3. the longest question whose normalised text occurs inside the normalised prompt (a chat template around it).

Step 3 scans every question, longest first, so its answers are kept in a bounded LRU cache: an RL run asks about
the same few thousand prompts again and again.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from acecoder.prompts import policy_prompt
from acecoder.time_limits import LIMIT_COLUMN, stored_limit

_WHITESPACE = re.compile(r"\s+")
DEFAULT_CACHE_SIZE = 16384


def normalise(text: str) -> str:
    """NFKC, lower case, whitespace runs as one space, no leading or trailing space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def question_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised text: the key a question and a prompt are matched on."""
    return _digest(normalise(text))


def _digest(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Question:
    """One dataset row as the server needs it. ``tests`` is one shared list, so the engine encodes a question's
    tests once for all the responses of a request; ``test_cpu_seconds`` is its calibrated per-test limit
    (``acecoder.time_limits``), None where the row has none (the engine's default applies)."""

    question: str
    tests: list[str]
    id: str | None = None
    test_cpu_seconds: float | None = None


def questions_from_rows(rows: Sequence[Mapping]) -> list[Question]:
    """``Question``s from rows with ``question`` and ``test_cases`` (or ``tests``), and optionally ``id``.

    AceCoder's released ``serve_rm.py`` read a ``tests`` column while its data had ``test_cases``, so every lookup
    found no tests; both names are accepted here, and ``test_cases`` wins when a row has both. A row's
    ``test_cpu_seconds`` column, when present, is its calibrated limit. ``ValueError`` (``TypeError`` for a row that
    is not an object) names the first malformed row, counted from 1.
    """
    questions = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise TypeError(f"row {number} is not an object")
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"row {number} has no question (a non-empty string)")
        tests = row.get("test_cases", row.get("tests"))
        if tests is None:
            tests = []
        if isinstance(tests, str) or not isinstance(tests, Sequence) or not all(isinstance(t, str) for t in tests):
            raise ValueError(f"row {number}: test_cases must be a list of strings (assert statements)")
        identifier = row.get("id")
        limit = stored_limit(row.get(LIMIT_COLUMN), f"row {number}: {LIMIT_COLUMN}")
        questions.append(Question(question, list(tests), None if identifier is None else str(identifier), limit))
    return questions


def load_questions(path: str | Path) -> list[Question]:
    """Questions from a .jsonl(.gz), .parquet or saved-dataset file.

    ``read_acecode`` would insist on ``id`` and ``test_cases`` in every row; the server needs neither an ``id``
    nor that column name (see ``questions_from_rows``), so it reads the rows with the same reader underneath.
    """
    from acecoder.data.seeds import read_rows

    rows = read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows")
    try:
        return questions_from_rows(rows)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


class QuestionIndex:
    """Looks up a prompt's ``Question``; safe to use from many threads at once.

    Rows may share a question and differ in tests (MBPP+ has such pairs: Mbpp/71 and Mbpp/141 both read "Write a
    function to sort a list of elements."); their policy prompts differ in the test shown, so each is found by its
    own. A bare question, or a shared id, finds the first such row (``duplicates`` counts the others).
    """

    def __init__(self, questions: Sequence[Question], cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {cache_size!r}")
        self.questions = list(questions)
        self.duplicates = 0
        self._by_id: dict[str, Question] = {}
        self._by_hash: dict[str, Question] = {}
        # Each distinct normalised question, with its rows as (normalised policy prompt, question).
        texts: dict[str, list[tuple[str, Question]]] = {}
        for question in self.questions:
            if question.id is not None:
                self._by_id.setdefault(question.id, question)
            text = normalise(question.question)
            self.duplicates += text in texts
            prompt = normalise(policy_prompt(question.question, question.tests))
            texts.setdefault(text, []).append((prompt, question))
            for form in (text, prompt):
                self._by_hash.setdefault(_digest(form), question)
        # Longest first, with lengths ascending alongside for bisect: the scan skips questions longer than the prompt.
        self._by_length = sorted(texts.items(), key=lambda item: -len(item[0]))
        self._negative_lengths = [-len(text) for text, _ in self._by_length]
        self._cache: OrderedDict[str, Question | None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.questions)

    def find(self, prompt: str, label: object = None) -> Question | None:
        """The question ``prompt`` asks (``label`` first, if it is a known id), or None."""
        if label is not None and not isinstance(label, (dict, list)):
            by_label = self._by_id.get(str(label))
            if by_label is not None:
                return by_label
        text = normalise(prompt)
        key = _digest(text)
        exact = self._by_hash.get(key)
        if exact is not None:
            return exact
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self._longest_inside(text)
        if self._cache_size:
            with self._lock:
                self._cache[key] = found
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return found

    def _longest_inside(self, text: str) -> Question | None:
        start = bisect.bisect_left(self._negative_lengths, -len(text))
        for question_text, rows in self._by_length[start:]:
            if question_text in text:
                # Rows sharing this question: the one whose policy prompt (with its first test) is there, if any.
                return next((question for prompt, question in rows if prompt in text), rows[0][1])
        return None
