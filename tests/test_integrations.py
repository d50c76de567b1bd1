"""verl's compute_score and OpenRLHF's reward_func, run for real in the engine: correct, wrong and code-less
responses; asserts, their JSON text and stdin/stdout cases; the pass-rate variant; the same outcome keys on every
response (verl gathers them into columns); one engine batch for a whole batched call; and both files loaded by path
with importlib, as the trainers load them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from acecoder.exec import Engine, IOTest
from acecoder.integrations import ground_truth as ground_truth_module
from acecoder.integrations import openrlhf_reward, verl_reward
from acecoder.integrations.scoring import OUTCOME_KEYS

ADD_TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 5) == 5", "assert add(-1, 1) == 0"]
RIGHT = "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```"
HALF = "def add(a, b):\n    return a + b if a < 1 else 0\n"  # passes add(0, 5) and add(-1, 1): 2 of 4
PROSE = "I would add the two numbers together and return the result."
SUM_CASES = {"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10\n"]}
SUM_RIGHT = (
    "```python\ndef main():\n    a, b = map(int, input().split())\n    print(a + b)\n\n"
    'if __name__ == "__main__":\n    main()\n```'
)
SUM_WRONG = "print(input())"


@pytest.fixture(scope="module", autouse=True)
def close_shared_engines():
    """The reward functions start shared engines; this module closes them when it is done."""
    yield
    from acecoder.exec import shutdown_shared_engines

    shutdown_shared_engines()


@pytest.fixture
def engine_runs(monkeypatch):
    """Counts the engine batches run (every path to the workers goes through ``Engine.run``)."""
    calls: list[int] = []
    original = Engine.run

    def counting(self, programs, tests, **options):
        calls.append(len(programs))
        return original(self, programs, tests, **options)

    monkeypatch.setattr(Engine, "run", counting)
    return calls


def test_ground_truth_shapes():
    parse = ground_truth_module.tests_from_ground_truth
    assert parse(ADD_TESTS) == ADD_TESTS
    assert parse(json.dumps(ADD_TESTS)) == ADD_TESTS
    assert parse(json.dumps(SUM_CASES)) == [IOTest("1 2\n", "3\n"), IOTest("5 5\n", "10\n")]
    assert parse([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]) == [IOTest("1 2\n", "3\n")]
    assert parse({"test_cases": ADD_TESTS}) == ADD_TESTS
    assert parse("assert add(1, 2) == 3") == ["assert add(1, 2) == 3"]
    assert parse(None) == [] and parse("[]") == []


@pytest.mark.parametrize(
    "ground_truth",
    ["[not json", {"inputs": ["1"]}, {"fn_name": "f", "inputs": [[1]], "outputs": [[2]]}, [1, 2], 3.5],
)
def test_bad_ground_truth_is_an_error_not_a_zero(ground_truth):
    with pytest.raises(ValueError):
        verl_reward.compute_score("code", RIGHT, ground_truth)


def test_verl_single_form_binary_with_reasons(engine_runs):
    right = verl_reward.compute_score("acecode", RIGHT, ADD_TESTS, None)
    assert right == {"score": 1.0, "pass_rate": 1.0, "passed": 4, "total": 4, "no_code": 0, "no_tests": 0,
                     "sandbox_error": 0}  # fmt: skip
    half = verl_reward.compute_score(data_source="acecode", solution_str=HALF, ground_truth=json.dumps(ADD_TESTS))
    # Binary mode stops at the first failing test (HALF fails the first of four): the rest cannot change the score.
    assert (half["score"], half["pass_rate"], half["passed"], half["total"]) == (0.0, 0.0, 0, 4)
    prose = verl_reward.compute_score("acecode", PROSE, ADD_TESTS, {"index": 3})
    assert (prose["score"], prose["no_code"], prose["total"]) == (0.0, 1, 4)
    untested = verl_reward.compute_score("acecode", RIGHT, [], None)
    assert (untested["score"], untested["no_tests"]) == (0.0, 1)
    assert engine_runs == [1, 1]  # the code-less and the untested responses never reach the engine


def test_verl_pass_rate_variant_and_reward_kwargs():
    assert verl_reward.compute_score_pass_rate("acecode", HALF, ADD_TESTS)["score"] == 0.5
    # verl adds custom_reward_function.reward_kwargs as keyword arguments.
    assert verl_reward.compute_score("acecode", HALF, ADD_TESTS, None, mode="pass_rate")["score"] == 0.5
    with pytest.raises(ValueError, match="mode"):
        verl_reward.compute_score("acecode", HALF, ADD_TESTS, mode="partial")


def test_verl_stdin_stdout_cases_keep_the_programs_prints():
    cases = json.dumps(SUM_CASES)
    assert verl_reward.compute_score("codecontests", SUM_RIGHT, cases)["score"] == 1.0
    wrong = verl_reward.compute_score("codecontests", SUM_WRONG, cases)
    assert (wrong["score"], wrong["no_code"], wrong["total"]) == (0.0, 0, 2)


def test_verl_batched_form_runs_one_engine_batch(engine_runs):
    solutions = [RIGHT, HALF, PROSE, SUM_RIGHT, SUM_WRONG, RIGHT]
    truths = [ADD_TESTS, json.dumps(ADD_TESTS), ADD_TESTS, json.dumps(SUM_CASES), SUM_CASES, None]
    outcomes = verl_reward.compute_score(
        data_sources=["code"] * 6, solution_strs=solutions, ground_truths=truths, extra_infos=[None] * 6
    )
    assert [outcome["score"] for outcome in outcomes] == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert [outcome["no_code"] for outcome in outcomes] == [0, 0, 1, 0, 0, 0]
    assert [outcome["no_tests"] for outcome in outcomes] == [0, 0, 0, 0, 0, 1]
    assert all(tuple(outcome) == OUTCOME_KEYS for outcome in outcomes)  # one column per key in verl
    assert engine_runs == [4]
    rates = verl_reward.compute_score_pass_rate(
        data_sources=["code"] * 2, solution_strs=[RIGHT, HALF], ground_truths=[ADD_TESTS] * 2, extra_infos=[None] * 2
    )
    assert [outcome["score"] for outcome in rates] == [1.0, 0.5]


def test_verl_ground_truth_as_numpy_array():
    numpy = pytest.importorskip("numpy")
    truth = numpy.array(ADD_TESTS, dtype=object)
    assert verl_reward.compute_score("acecode", RIGHT, truth)["score"] == 1.0


def _load_by_path(module, name: str):
    """What verl (``custom_module``) and OpenRLHF (``reward_func``) do with the file named in their config."""
    spec = importlib.util.spec_from_file_location(name, Path(module.__file__))
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    finally:
        del sys.modules[name]
    return loaded


def test_verl_file_loads_by_path():
    loaded = _load_by_path(verl_reward, "custom_module")
    assert loaded.compute_score("acecode", RIGHT, ADD_TESTS)["score"] == 1.0


def test_openrlhf_score_queries_with_label_tests():
    prompt = "<|im_start|>user\nWrite add(a, b).<|im_end|>\n<|im_start|>assistant\n"
    queries = [prompt + RIGHT + "<|im_end|>", prompt + HALF + "<|im_end|><|endoftext|>", prompt + PROSE]
    labels = [json.dumps(ADD_TESTS), ADD_TESTS, json.dumps(ADD_TESTS)]
    outcomes = openrlhf_reward.score_queries(queries, [prompt] * 3, labels, "pass_rate")
    assert [outcome["score"] for outcome in outcomes] == [1.0, 0.5, 0.0]
    assert [outcome["no_code"] for outcome in outcomes] == [0, 0, 1]
    with pytest.raises(ValueError, match="no label"):
        openrlhf_reward.score_queries(queries[:1], [prompt], None)


def test_openrlhf_labels_name_rows_of_a_dataset(tmp_path):
    rows = [
        {"id": "add", "question": "Write a function add(a, b) that returns a + b.", "test_cases": ADD_TESTS},
        {"id": "empty", "question": "Write a function nothing() that does nothing useful.", "test_cases": []},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    prompt = f"Question: {rows[0]['question']}\nAnswer:"
    queries = [prompt + RIGHT, prompt + HALF, "Question: Sort a list.\nAnswer:" + RIGHT, "q" + RIGHT]
    outcomes = openrlhf_reward.score_queries(
        queries, [prompt, prompt, "Question: Sort a list.\nAnswer:", "q"], ["add", None, None, "empty"],
        dataset=str(path),
    )  # fmt: skip
    assert [outcome["score"] for outcome in outcomes] == [1.0, 0.0, 0.0, 0.0]
    assert [outcome["unmatched"] for outcome in outcomes] == [0, 0, 1, 0]
    assert [outcome["no_tests"] for outcome in outcomes] == [0, 0, 0, 1]


def test_openrlhf_reward_func_loaded_by_path(monkeypatch, engine_runs):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv(openrlhf_reward.MODE_VARIABLE, "pass_rate")
    monkeypatch.delenv(openrlhf_reward.DATASET_VARIABLE, raising=False)
    loaded = _load_by_path(openrlhf_reward, "reward_func")
    prompts = ["Write add.\n"] * 3
    queries = [prompt + answer for prompt, answer in zip(prompts, [RIGHT, HALF, PROSE])]
    result = loaded.reward_func(queries, prompts, [json.dumps(ADD_TESTS)] * 3)
    assert set(result) == {"rewards", "scores", "extra_logs"}
    assert torch.equal(result["rewards"], torch.tensor([1.0, 0.5, 0.0]))
    assert torch.equal(result["scores"], result["rewards"])
    assert torch.equal(result["extra_logs"]["no_code"], torch.tensor([0.0, 0.0, 1.0]))
    assert set(result["extra_logs"]) == {"pass_rate", "no_code", "no_tests", "sandbox_error", "unmatched"}
    assert engine_runs == [2]


def test_importing_the_integrations_stays_light():
    code = (
        "import sys; import acecoder.integrations.verl_reward, acecoder.integrations.openrlhf_reward; "
        "heavy = {'torch', 'verl', 'openrlhf', 'transformers'} & set(sys.modules); assert not heavy, heavy"
    )
    environment = {"PYTHONPATH": str(Path(verl_reward.__file__).parents[2])}
    subprocess.run([sys.executable, "-c", code], check=True, env=environment)
