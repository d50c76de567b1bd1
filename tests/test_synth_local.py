"""The pipeline end to end on the CPU with the packaged SmolLM2-135M-Instruct (transformers backend, GGUF):
real generations, real parsing, a real oracle run through the engine. Slow (about a minute): marked ``slow``,
which ``make test`` and CI select. Skipped cleanly without the ``synth`` extra or the model package."""

from __future__ import annotations

import ast
import importlib.util

import pytest

# Generation-bound: on a busy 2-core machine it can take several times its idle minute.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    pytest.skip("needs the synth extra (torch, transformers)", allow_module_level=True)

from acecoder.data.acecode import read_acecode  # noqa: E402
from acecoder.data.journal import journal_path  # noqa: E402
from acecoder.data.seeds import default_seeds  # noqa: E402
from acecoder.generation import make_backend  # noqa: E402
from acecoder.models.names import packaged_model_file  # noqa: E402
from acecoder.synth.pipeline import SynthConfig, Synthesizer  # noqa: E402


@pytest.fixture(scope="module")
def smollm2_backend(tmp_path_factory):
    try:
        packaged_model_file("smollm2")
    except FileNotFoundError as error:
        pytest.skip(str(error))
    backend = make_backend(
        "transformers", "smollm2", cache=tmp_path_factory.mktemp("cache") / "cache.sqlite", batch_size=3
    )
    yield backend
    backend.close()


def test_smollm2_synthesis_end_to_end(smollm2_backend, engine, tmp_path):
    seeds = default_seeds()[:3]
    output = tmp_path / "questions.jsonl"
    config = SynthConfig(max_tokens=160, oracle_max_tokens=160, seed=0)
    summary = Synthesizer(smollm2_backend, engine, output, config).run(seeds)
    assert summary.questions_in == 3
    journal = journal_path(output).read_text().splitlines()
    # Every seed reached a verdict (a local model has no transient failures) and the counts add up.
    assert len(journal) == 3
    assert summary.questions_out + sum(summary.failures.values()) == 3
    assert summary.tests_kept <= summary.tests_parsed <= summary.tests_generated
    for row in read_acecode(output):
        assert len(row["test_cases"]) >= config.min_tests
        assert all(isinstance(ast.parse(test).body[0], ast.Assert) for test in row["test_cases"])
    # A rerun resumes every seed from the journal and needs no generation.
    again = Synthesizer(smollm2_backend, engine, output, config).run(seeds)
    assert again.resumed == 3
    assert (again.questions_out, again.failures) == (summary.questions_out, summary.failures)


def test_smollm2_generations_are_cached_and_reproducible(smollm2_backend):
    from acecoder.generation import ChatRequest, Sampling

    request = ChatRequest(
        ({"role": "user", "content": "Write a Python function that adds two numbers."},),
        Sampling(n=2, max_tokens=24, seed=1),
    )
    first = smollm2_backend.generate([request])[0]
    second = smollm2_backend.generate([request])[0]
    assert first.ok and len(first.texts) == 2 and not first.cached
    assert second.cached and second.texts == first.texts
    fresh = smollm2_backend.backend.generate([request])[0]  # the same seed, without the cache
    assert fresh.texts == first.texts


def test_smollm2_line_format_gives_parsable_tests_judged_by_the_seed(smollm2_backend, engine, tmp_path):
    # The small-model format `acecoder synth --model smollm2` picks: replies begun as `assert name(`, the seed's
    # program as the oracle. Real generations: counts are not fixed, the shape of everything kept is.
    seeds = default_seeds()[4:6]
    output = tmp_path / "questions.jsonl"
    config = SynthConfig(format="lines", oracle="seed", samples=4, max_tokens=96, min_tests=1, seed=0)
    summary = Synthesizer(smollm2_backend, engine, output, config).run(seeds)
    assert summary.questions_out + sum(summary.failures.values()) == 2
    assert summary.tests_parsed > 0  # the model follows the begun format
    for row in read_acecode(output):
        function = row["question"].rsplit("`def ", 1)[1].split("(", 1)[0]
        assert all(test.startswith("assert ") and function in test for test in row["test_cases"])
        assert row["provenance"]["oracle_model"] == "seed program"
