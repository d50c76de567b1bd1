"""The synthesis pipeline end to end against a real local HTTP chat server with recorded replies: parsing, oracle
filtering through the engine, AceCode output, the journal and the response cache (resume after a failure and
after an interruption), and the ``acecoder synth`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("openai")

from acecoder.cli import main  # noqa: E402
from acecoder.data.acecode import ACECODE_COLUMNS, read_acecode  # noqa: E402
from acecoder.data.benchmarks import load_mbpp_plus  # noqa: E402
from acecoder.data.journal import journal_path  # noqa: E402
from acecoder.data.seeds import Seed, load_seeds, mbpp_train_questions  # noqa: E402
from acecoder.generation import CachedBackend, ChatRequest, ResponseCache, Sampling, make_backend  # noqa: E402
from acecoder.synth.pipeline import SynthConfig, Synthesizer  # noqa: E402
from acecoder.time_limits import MIN_TIME_LIMIT  # noqa: E402
from chat_server import ChatServer, Reply, last_user_message, recorded  # noqa: E402

SQUARE_TESTS = [f"assert square({value}) == {value * value}" for value in range(6)] + [
    "assert square(3) == 10",  # wrong: the oracle drops it
    "assert square(2) == 4",  # duplicate
    "assert open('x') is None",  # unsafe
]
SQUARE_REPLY = (
    "Sure!\n```json\n" + json.dumps({"question": "Write square(n) returning n*n.", "tests": SQUARE_TESTS}) + "\n```"
)
SQUARE_SOLUTION = "Here you go:\n```python\ndef square(n):\n    return n * n\n```"

# Truncated after the sixth test: the repair keeps six complete tests.
CUBE_TESTS = [f"assert cube({value}) == {value**3}" for value in range(8)]
CUBE_REPLY = json.dumps({"question": "Write cube(n) returning n**3.", "tests": CUBE_TESTS})
CUBE_REPLY = CUBE_REPLY[: CUBE_REPLY.index(CUBE_TESTS[6]) + 5]
CUBE_WRONG_SOLUTION = "```python\ndef cube(n):\n    return n * n\n```"  # passes cube(0) and cube(1) only

SEEDS = [
    Seed("s-square", "def square_seed(n):\n    return n * n\n", "Square a number.", "unit"),
    Seed("s-garbage", "def garbage_seed():\n    pass\n", None, "unit"),
    Seed("s-cube", "def cube_seed(n):\n    return n ** 3\n", "Cube a number.", "unit"),
]

REPLIES = {
    "square_seed": [SQUARE_REPLY],
    "garbage_seed": ["I cannot answer that in JSON, sorry."],
    "cube_seed": [CUBE_REPLY],
    "Write square(n)": [SQUARE_SOLUTION],
    "Write cube(n)": [CUBE_WRONG_SOLUTION],
}


def backend_for(server: ChatServer, cache_path: Path) -> CachedBackend:
    backend = make_backend("openai", "recorded-model", cache=ResponseCache(cache_path), base_url=server.base_url)
    backend.backend.backoff_base = 0.01
    return backend


def run_pipeline(engine, server: ChatServer, tmp_path: Path, output: Path, **config):
    backend = backend_for(server, tmp_path / "cache.sqlite")
    try:
        return Synthesizer(backend, engine, output, SynthConfig(**config)).run(SEEDS)
    finally:
        backend.close()


def test_pipeline_parses_filters_and_writes_acecode_rows(engine, tmp_path):
    output = tmp_path / "questions.jsonl"
    with ChatServer(recorded(REPLIES)) as server:
        summary = run_pipeline(engine, server, tmp_path, output)
    rows = read_acecode(output)
    assert [row["id"] for row in rows] == ["s-square"]
    row = rows[0]
    assert set(ACECODE_COLUMNS) <= set(row)
    assert row["test_cases"] == SQUARE_TESTS[:6]  # the wrong, duplicate and unsafe tests are gone
    assert row["context_messages"] == [{"role": "user", "content": "Write square(n) returning n*n."}]
    assert row["source"] == "unit"
    assert "def square" in row["provenance"].pop("oracle_solution")  # the reference `acecoder audit` mutates
    assert row["provenance"] == {
        "seed_id": "s-square",
        "model": "recorded-model",
        "oracle_model": "recorded-model",
        "tests_generated": 9,
        "tests_parsed": 7,
        "tests_kept": 6,
        "repaired": False,
    }
    # The kept question's limit, calibrated on the oracle's solution (quick: evalplus's 1 s floor).
    assert row["test_cpu_seconds"] == MIN_TIME_LIMIT
    assert (summary.questions_in, summary.questions_out) == (3, 1)
    assert summary.tests_generated == 9 + 6
    assert summary.tests_parsed == 7 + 6
    assert summary.tests_kept == 6
    assert summary.parse_repairs == 1  # the truncated cube reply
    assert summary.failures == {"no_json": 1, "too_few_tests": 1}
    assert summary.dropped_tests["duplicate"] == 1 and summary.dropped_tests["unsafe"] == 1
    table = summary.table()
    assert "questions out" in table and "too_few_tests" in table


def test_oracle_prompt_shows_two_tests_and_is_greedy(engine, tmp_path):
    with ChatServer(recorded(REPLIES)) as server:
        run_pipeline(engine, server, tmp_path, tmp_path / "out.jsonl")
        oracle_bodies = [body for body in server.requests if "Write square(n)" in last_user_message(body)]
    assert len(oracle_bodies) == 1
    prompt = last_user_message(oracle_bodies[0])
    assert SQUARE_TESTS[0] in prompt and SQUARE_TESTS[1] in prompt and SQUARE_TESTS[2] not in prompt
    assert oracle_bodies[0]["temperature"] == 0.0


def test_min_tests_is_configurable(engine, tmp_path):
    output = tmp_path / "out.jsonl"
    with ChatServer(recorded(REPLIES)) as server:
        summary = run_pipeline(engine, server, tmp_path, output, min_tests=2)
    rows = {row["id"]: row for row in read_acecode(output)}
    assert rows["s-cube"]["test_cases"] == CUBE_TESTS[:2]
    assert summary.questions_out == 2


def test_transient_failures_are_retried_on_the_next_run_without_duplicates(engine, tmp_path):
    output = tmp_path / "out.jsonl"
    answer = recorded(REPLIES)

    def failing_oracle(body: dict) -> Reply:
        if "Write cube(n)" in last_user_message(body):
            return Reply(status=500, error="overloaded")
        return answer(body)

    with ChatServer(failing_oracle) as server:
        first = run_pipeline(engine, server, tmp_path, output, min_tests=2)
    assert first.failures["oracle_generation_error"] == 1
    assert [row["id"] for row in read_acecode(output)] == ["s-square"]
    with ChatServer(recorded(REPLIES)) as server:
        second = run_pipeline(engine, server, tmp_path, output, min_tests=2)
        # Only the cube question's oracle call is new: the rest was journaled or cached.
        assert [last_user_message(body)[:14] for body in server.requests] == ["Write cube(n) "]
    assert [row["id"] for row in read_acecode(output)] == ["s-square", "s-cube"]
    assert second.resumed == 2 and second.questions_out == 2
    journal = [json.loads(line) for line in journal_path(output).read_text().splitlines()]
    assert sorted(record["seed_id"] for record in journal) == ["s-cube", "s-garbage", "s-square"]


def test_interrupted_run_resumes_where_it_stopped(engine, tmp_path):
    output = tmp_path / "out.parquet"

    def interrupt(stage: str, done: int, total: int) -> None:
        if done >= 3:  # after the first seed (a rewrite and an oracle call), during the second seed
            raise KeyboardInterrupt

    with ChatServer(recorded(REPLIES)) as server:
        backend = backend_for(server, tmp_path / "cache.sqlite")
        synthesizer = Synthesizer(backend, engine, output, SynthConfig(batch_size=1, min_tests=2), progress=interrupt)
        with pytest.raises(KeyboardInterrupt):
            synthesizer.run(SEEDS)
        backend.close()
        sent_before = len(server.requests)
        assert not output.exists()
        assert len(journal_path(output).read_text().splitlines()) == 1
        summary = run_pipeline(engine, server, tmp_path, output, batch_size=1, min_tests=2)
        resent = [body for body in server.requests[sent_before:] if "square_seed" in last_user_message(body)]
    assert resent == []  # the first seed's work was journaled, not redone
    assert summary.resumed == 1
    rows = read_acecode(output)
    assert [row["id"] for row in rows] == ["s-square", "s-cube"]
    assert rows[0]["test_cases"] == SQUARE_TESTS[:6]


def test_settings_change_recomputes_instead_of_mixing(engine, tmp_path):
    output = tmp_path / "out.jsonl"
    with ChatServer(recorded(REPLIES)) as server:
        run_pipeline(engine, server, tmp_path, output)
        summary = run_pipeline(engine, server, tmp_path, output, min_tests=2)
    assert summary.resumed == 0 and summary.questions_out == 2


def test_response_cache_answers_repeats_without_the_server(tmp_path):
    request = ChatRequest(({"role": "user", "content": "Write square(n) please"},), Sampling(n=2, temperature=0.0))
    with ChatServer(recorded(REPLIES)) as server:
        backend = backend_for(server, tmp_path / "cache.sqlite")
        first = backend.generate([request])
        second = backend.generate([request])
        backend.close()
        assert len(server.requests) == 1
    assert first[0].texts == second[0].texts == [SQUARE_SOLUTION, SQUARE_SOLUTION]
    assert not first[0].cached and second[0].cached
    cache = ResponseCache(tmp_path / "cache.sqlite")
    assert len(cache) == 1 and cache.get("another-model", request) is None
    cache.close()


def test_synth_command_runs_and_resumes(tmp_path, capsys):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "".join(
            json.dumps({"id": seed.id, "program": seed.program, "instruction": seed.instruction}) + "\n"
            for seed in SEEDS
        )
    )
    output = tmp_path / "out.jsonl"
    with ChatServer(recorded(REPLIES)) as server:
        arguments = [
            "synth",
            "--input",
            str(seeds),
            "--output",
            str(output),
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            server.base_url,
            "--cache",
            str(tmp_path / "cache.sqlite"),
            "--workers",
            "1",
            "--quiet",
        ]
        assert main(arguments) == 0
        first = capsys.readouterr().out
        assert main(arguments) == 0
        second = capsys.readouterr().out
    assert "questions out" in first and "too_few_tests" in first
    assert [row["id"] for row in read_acecode(output)] == ["s-square"]
    resumed_line = next(line for line in second.splitlines() if line.startswith("seeds resumed"))
    assert resumed_line.split()[-1] == "3"


def test_synth_command_rejects_malformed_seeds(tmp_path, capsys):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "a", "program": "x = 1"}\n{"id": "b"}\n{"id": "a", "program": "y = 2"}\n')
    code = main(
        ["synth", "--input", str(seeds), "--output", str(tmp_path / "o.jsonl"), "--backend", "openai", "--model", "m"]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "row 2" in error and "duplicate id 'a'" in error
    assert main(["synth", "--output", str(tmp_path / "o.csv"), "--backend", "openai", "--model", "m"]) == 2


def test_default_seeds_are_mbpp_train_only():
    seeds = load_seeds()
    numbers = [int(seed.id.split("/")[1]) for seed in seeds]
    assert len(seeds) == 374 and min(numbers) == 601 and max(numbers) == 974
    assert all(seed.instruction and seed.program for seed in seeds)


def test_mbpp_train_questions_can_leave_out_what_mbpp_plus_holds():
    """MBPP+ draws from MBPP's train split too: data for a model judged on MBPP+ must leave those tasks out."""
    evaluation = {f"mbpp/{task_id.split('/')[1]}" for task_id in load_mbpp_plus()}
    every = {row["id"] for row in mbpp_train_questions()}
    disjoint = mbpp_train_questions(disjoint_from_mbpp_plus=True)
    assert len(every & evaluation) == 108 and len(disjoint) == 266
    assert not {row["id"] for row in disjoint} & evaluation
    assert all(row["test_cases"] and row["question"] for row in disjoint)


def test_seeds_load_from_parquet_and_a_saved_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"task": f"t{index}", "code": f"x = {index}\n", "text": "set x"} for index in range(3)]
    fields = {"id": "task", "program": "code", "instruction": "text"}
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "seeds.parquet"))
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "seeds_dataset"))
    for path in (tmp_path / "seeds.parquet", tmp_path / "seeds_dataset"):
        seeds = load_seeds(path, fields)
        assert [(seed.id, seed.program, seed.instruction) for seed in seeds] == [
            (f"t{i}", f"x = {i}\n", "set x") for i in range(3)
        ]
    with pytest.raises(ValueError, match="row 1"):
        load_seeds(tmp_path / "seeds.parquet")  # no 'id'/'program' columns without the renaming


# ------------------------------------------------------------------------------------------ hostile servers

HOSTILE_SEEDS = [
    SEEDS[0],
    Seed("s-cut", "def cut_seed(n):\n    return n\n", "Cut.", "unit"),
    Seed("s-braces", "def braces_seed(n):\n    return n\n", "Braces.", "unit"),
]


def hostile(body: dict) -> Reply:
    """A cut JSON body for one seed, twenty megabytes of braces for another, honest answers otherwise."""
    prompt = last_user_message(body)
    if "cut_seed" in prompt:
        return Reply(body=b'{"choices": [ {"message": ')
    if "braces_seed" in prompt:
        return Reply(texts=["{" * 20_000_000])
    return recorded(REPLIES)(body)


def test_cut_and_oversized_replies_are_failed_generations_and_the_other_seeds_complete(engine, tmp_path):
    output = tmp_path / "out.jsonl"
    for _ in range(2):  # the rerun neither hangs nor crashes: failures are not cached, and fail the same way
        with ChatServer(hostile) as server:
            backend = backend_for(server, tmp_path / "cache.sqlite")
            try:
                summary = Synthesizer(backend, engine, output, SynthConfig()).run(HOSTILE_SEEDS)
            finally:
                backend.close()
        assert [row["id"] for row in read_acecode(output)] == ["s-square"]
        assert summary.failures["generation_error"] == 2
        assert summary.failed_generations == {
            "bad_reply: truncated JSON": 1, f"bad_reply: over {1_000_000 + 65_536:,} bytes": 1,
        }  # fmt: skip
        assert "failed generations: bad_reply: truncated JSON" in summary.table()
    assert summary.resumed == 1
    journaled = [json.loads(line)["seed_id"] for line in journal_path(output).read_text().splitlines()]
    assert journaled == ["s-square"]


def test_an_oversized_cached_reply_is_asked_again(tmp_path):
    request = ChatRequest(({"role": "user", "content": "Write square(n) please"},), Sampling(n=1))
    cache = ResponseCache(tmp_path / "cache.sqlite")
    cache.put("recorded-model", request, ["{" * 2_000_000])  # stored before there was a cap
    cache.close()
    with ChatServer(recorded(REPLIES)) as server:
        backend = backend_for(server, tmp_path / "cache.sqlite")
        [generation] = backend.generate([request])
        backend.close()
        assert len(server.requests) == 1
    assert generation.texts == [SQUARE_SOLUTION] and not generation.cached


def test_synth_command_counts_bad_replies_in_its_summary(tmp_path, capsys):
    seeds = tmp_path / "seeds.jsonl"
    rows = [{"id": seed.id, "program": seed.program, "instruction": seed.instruction} for seed in HOSTILE_SEEDS]
    seeds.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with ChatServer(hostile) as server:
        arguments = [
            "synth",
            "--input",
            str(seeds),
            "--output",
            str(tmp_path / "out.jsonl"),
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            server.base_url,
            "--cache",
            str(tmp_path / "cache.sqlite"),
            "--workers",
            "1",
            "--quiet",
            "--request-timeout",
            "30",
        ]
        assert main(arguments) == 0
    table = capsys.readouterr().out
    assert "failed generations: bad_reply: truncated JSON" in table
    assert "questions dropped: generation_error" in table


def test_a_getattr_chain_to_os_system_is_dropped_before_the_oracle(engine, tmp_path):
    chain = "assert getattr(getattr(square, '__glo' + 'bals__')['o' + 's'], 'sys' + 'tem')('true') == 0"
    tests = [f"assert square({value}) == {value * value}" for value in range(5)] + [chain]
    reply = json.dumps({"question": "Write square(n) returning n*n.", "tests": tests})
    output = tmp_path / "out.jsonl"
    with ChatServer(recorded({**REPLIES, "square_seed": [reply]})) as server:
        backend = backend_for(server, tmp_path / "cache.sqlite")
        try:
            summary = Synthesizer(backend, engine, output, SynthConfig()).run(SEEDS[:1])
        finally:
            backend.close()
        prompts = [last_user_message(body) for body in server.requests]
    oracle_prompts = [prompt for prompt in prompts if "Write square(n)" in prompt]
    [row] = read_acecode(output)
    assert row["test_cases"] == tests[:5]
    assert summary.dropped_tests["unsafe"] == 1
    assert all("globals" not in prompt for prompt in oracle_prompts)


def test_synth_command_names_bad_replies_when_nothing_is_kept(tmp_path, capsys):
    seeds = tmp_path / "seeds.jsonl"
    row = {"id": HOSTILE_SEEDS[1].id, "program": HOSTILE_SEEDS[1].program, "instruction": "Cut."}
    seeds.write_text(json.dumps(row) + "\n")
    with ChatServer(hostile) as server:
        arguments = [
            "synth",
            "--input",
            str(seeds),
            "--output",
            str(tmp_path / "out.jsonl"),
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            server.base_url,
            "--no-cache",
            "--workers",
            "1",
            "--quiet",
        ]
        assert main(arguments) == 1
    error = capsys.readouterr().err
    assert "generation_error 1 (failed generations: bad_reply: truncated JSON 1)" in error
