"""OpenRLHF's reward function file: test-based rewards in the trainer's own process, no server to run.

OpenRLHF treats a ``--remote_rm_url`` that ends in ``.py`` as a file to load with ``importlib`` (under the module
name ``reward_func``) and calls its ``reward_func(queries, prompts, labels, **kwargs)``: ``queries`` are prompt plus
response as decoded text, ``labels`` the ``--label_key`` column. It expects a dict of ``"rewards"`` (a tensor, for
the advantages), ``"scores"`` (a tensor in [0, 1], for dynamic filtering) and ``"extra_logs"`` (tensors logged to
wandb) (https://github.com/OpenRLHF/OpenRLHF/blob/main/examples/python/reward_func.py). So point it at this file::

    --remote_rm_url $(python -c 'import acecoder.integrations.openrlhf_reward as m; print(m.__file__)')
    --label_key test_cases

How a label carries its row's tests:

- the tests themselves: a list of asserts, its JSON text, or stdin/stdout cases
  (``acecoder.integrations.ground_truth``); a list column or a JSON text column both work;
- with ``ACECODER_REWARD_DATASET=ROWS`` (the rows ``acecoder serve-reward --input`` takes: ``question`` and
  ``test_cases``, optionally ``id``), a label that is not JSON is the row's ``id``, and a missing label (no
  ``--label_key``) or an unknown id finds the row by its prompt, as the reward server does
  (``acecoder.serve.questions.QuestionIndex``). A response whose row is not found scores 0.0 and counts in
  ``extra_logs["unmatched"]``.

``ACECODER_REWARD_MODE`` is ``binary`` (the default: 1.0 only when every test passes) or ``pass_rate``;
``ACECODER_REWARD_WORKERS`` sets the engine's workers (one per usable CPU by default). The response is what follows
the prompt in the query, special tokens and padding included (``acecoder.serve.scoring.response_of``;
``extract_code`` drops the tokens). All responses of a call run in one engine batch. torch is imported inside
``reward_func``, so importing this module stays light.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from acecoder.integrations.ground_truth import tests_from_ground_truth
from acecoder.integrations.scoring import score_responses
from acecoder.serve.questions import QuestionIndex, load_questions
from acecoder.serve.scoring import response_of

__all__ = ["DATASET_VARIABLE", "MODE_VARIABLE", "WORKERS_VARIABLE", "reward_func", "score_queries"]

DATASET_VARIABLE = "ACECODER_REWARD_DATASET"
MODE_VARIABLE = "ACECODER_REWARD_MODE"
WORKERS_VARIABLE = "ACECODER_REWARD_WORKERS"
# What extra_logs reports per response, beside the reward itself.
LOGGED = ("pass_rate", "no_code", "no_tests", "sandbox_error", "unmatched")

_indices: dict[str, QuestionIndex] = {}
_indices_lock = threading.Lock()


def _index(path: str) -> QuestionIndex:
    """The question index of the dataset at ``path``, read once per process."""
    with _indices_lock:
        if path not in _indices:
            _indices[path] = QuestionIndex(load_questions(path))
        return _indices[path]


def _carries_tests(label: object) -> bool:
    """Whether a label is tests rather than a row id: anything but text, or text that is JSON."""
    if label is None:
        return False
    if not isinstance(label, str):
        return True
    return label.lstrip()[:1] in ("[", "{")


def score_queries(
    queries: Sequence[str],
    prompts: Sequence[str] | None,
    labels: Sequence[object] | None,
    mode: str = "binary",
    *,
    dataset: str | None = None,
    workers: int | None = None,
) -> list[dict]:
    """One outcome dict per query (``acecoder.integrations.scoring.OUTCOME_KEYS`` plus ``unmatched``), in order:
    ``reward_func`` without torch and without environment variables."""
    if prompts is not None and len(prompts) != len(queries):
        raise ValueError(f"{len(queries)} queries but {len(prompts)} prompts; they must match")
    if labels is not None and len(labels) != len(queries):
        raise ValueError(f"{len(queries)} queries but {len(labels)} labels; they must match")
    index = _index(dataset) if dataset else None
    responses: list[str] = []
    tests: list[list | None] = []
    limits: list[float | None] = []  # a dataset row's calibrated limit (acecoder.time_limits), else the engine's
    unmatched: list[int] = []
    for position, query in enumerate(queries):
        prompt = prompts[position] if prompts is not None else None
        label = labels[position] if labels is not None else None
        responses.append(response_of(query, prompt))
        if index is None or _carries_tests(label):
            if label is None:
                raise ValueError(
                    f"query {position} has no label: pass --label_key with the tests, or set {DATASET_VARIABLE}"
                )
            try:
                tests.append(tests_from_ground_truth(label))
            except ValueError as error:
                raise ValueError(f"label of query {position}: {error}") from None
            limits.append(None)
            continue
        question = index.find(prompt if prompt is not None else query, label)
        if question is None:
            unmatched.append(position)
        tests.append(None if question is None else question.tests)
        limits.append(None if question is None else question.test_cpu_seconds)
    outcomes = score_responses(responses, tests, mode, workers=workers, test_cpu_seconds=limits)
    for outcome in outcomes:
        outcome["unmatched"] = 0
    for position in unmatched:
        outcomes[position]["no_tests"] = 0  # not found, which is not the same as a row without tests
        outcomes[position]["unmatched"] = 1
    return outcomes


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[object], **kwargs: object) -> dict:
    """OpenRLHF's reward function: ``{"rewards", "scores", "extra_logs"}`` as float tensors, one value per query."""
    import torch

    workers = os.environ.get(WORKERS_VARIABLE)
    outcomes = score_queries(
        queries,
        prompts,
        labels,
        os.environ.get(MODE_VARIABLE, "binary"),
        dataset=os.environ.get(DATASET_VARIABLE) or None,
        workers=int(workers) if workers else None,
    )
    rewards = torch.tensor([float(outcome["score"]) for outcome in outcomes], dtype=torch.float)
    logs = {name: torch.tensor([float(outcome[name]) for outcome in outcomes], dtype=torch.float) for name in LOGGED}
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": logs}
