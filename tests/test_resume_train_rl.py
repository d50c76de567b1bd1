"""``acecoder train-rl`` stopped by Ctrl-C (SIGINT) or killed (SIGKILL) in a subprocess once its first checkpoint
is saved, then rerun with the same command: it resumes from the last complete checkpoint (skipping, with a warning,
one that a kill left half-written) and ends with the same weights and the same per-step log as a run that was never
stopped.

The policy is a tiny random Llama (Llama tokenizer, 32K tokens: the cheapest real one). Its completions hold no
code, so every reward is 0 and gives no gradient; an entropy bonus makes each step move the weights all the same,
so the comparison covers the optimizer and schedule state as well as the data order and random state."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from acecoder.cli import main  # noqa: E402
from acecoder.exec import shutdown_shared_engines  # noqa: E402
from acecoder.files import current_umask  # noqa: E402
from acecoder.models.loading import build_tiny_model  # noqa: E402
from acecoder.train.checkpoints import IncompleteCheckpointWarning  # noqa: E402

STEPS = 3
# What must match between a resumed run and an uninterrupted one, per logged step (timings never do).
COMPARED = ("step", "loss", "kl", "reward", "reward_std", "learning_rate", "completions/mean_length")


@pytest.fixture(scope="module", autouse=True)
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield
    shutdown_shared_engines()


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("rl-resume")
    policy = build_tiny_model(directory / "policy", tokenizer="bigcode")
    questions = directory / "questions.jsonl"
    rows = [{"id": f"q{number}", "question": f"Write add(a, b) #{number}.", "test_cases": ["assert add(1, 2) == 3"]}
            for number in range(4)]  # fmt: skip
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return policy, questions


def arguments(setup: tuple[Path, Path], output: Path) -> list[str]:
    policy, questions = setup
    return ["train-rl", "--model", str(policy), "--input", str(questions), "--output-dir", str(output),
            "--per_device_train_batch_size", "4", "--num_generations", "4", "--max_completion_length", "8",
            "--learning_rate", "1e-3", "--entropy_coef", "0.5", "--seed", "0", "--max_steps", str(STEPS),
            "--save_strategy", "steps", "--save_steps", "1", "--disable_tqdm", "true"]  # fmt: skip


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("reference") / "run"
    assert main(arguments(setup, output)) == 0
    return output


def final_state(output: Path) -> tuple[dict, list[dict]]:
    from safetensors.torch import load_file

    metrics = json.loads((output / "metrics.json").read_text())
    history = [{key: row.get(key) for key in COMPARED} for row in metrics["history"]]
    return load_file(output / "model.safetensors"), history


def assert_same_run(output: Path, reference: Path) -> None:
    import torch

    weights, history = final_state(output)
    # safetensors writes 0600; the saved policy gets open()'s mode, so collaborators can read it
    assert stat.S_IMODE((output / "model.safetensors").stat().st_mode) == 0o666 & ~current_umask()
    reference_weights, reference_history = final_state(reference)
    assert history == reference_history and len(history) == STEPS
    assert weights.keys() == reference_weights.keys()
    assert all(torch.equal(weights[name], reference_weights[name]) for name in weights)


def stop_after_first_checkpoint(command: list[str], output: Path, stop: signal.Signals) -> subprocess.CompletedProcess:
    """Runs ``command`` and sends ``stop`` the moment ``checkpoint-1`` is complete; the run has steps left then."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    state = output / "checkpoint-1" / "trainer_state.json"
    deadline = time.monotonic() + 240
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(stop)
    _, error = process.communicate(timeout=120)
    leftovers = session_processes(process.pid)
    assert not leftovers, f"processes of the stopped run still alive: {leftovers}"
    return subprocess.CompletedProcess(command, process.returncode, "", error)


def session_processes(session: int) -> list[int]:
    """Live processes of session ``session`` (the stopped run and everything it started), after a short grace."""
    deadline = time.monotonic() + 10
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if fields[0] != "Z" and int(fields[3]) == session:  # state, ppid, pgrp, session
                    found.append(int(entry.name))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.timeout(300)
def test_train_rl_interrupted_by_ctrl_c_resumes_to_the_uninterrupted_result(setup, reference, tmp_path):
    output = tmp_path / "run"
    stopped = stop_after_first_checkpoint([sys.executable, "-m", "acecoder", *arguments(setup, output)], output,
                                          signal.SIGINT)  # fmt: skip
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    assert "interrupted" in stopped.stderr and not (output / "metrics.json").exists()
    with warnings.catch_warnings():
        # Ctrl-C may land while checkpoint-2 is being written: then that one is skipped, as tested below.
        warnings.simplefilter("ignore", IncompleteCheckpointWarning)
        assert main(arguments(setup, output)) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert Path(metrics["resumed_from"]).name in {f"checkpoint-{step}" for step in range(1, STEPS)}
    assert_same_run(output, reference)


@pytest.mark.timeout(300)
def test_train_rl_killed_mid_save_resumes_from_the_last_complete_checkpoint(setup, reference, tmp_path):
    output = tmp_path / "run"
    stopped = stop_after_first_checkpoint([sys.executable, "-m", "acecoder", *arguments(setup, output)], output,
                                          signal.SIGKILL)  # fmt: skip
    assert stopped.returncode == -signal.SIGKILL
    assert not (output / "metrics.json").exists()
    # What a kill during the next save leaves: checkpoint-2 without its trainer state (written last).
    incomplete = output / "checkpoint-2"
    if not incomplete.exists():
        shutil.copytree(output / "checkpoint-1", incomplete)
    (incomplete / "trainer_state.json").unlink(missing_ok=True)
    for newer in output.glob("checkpoint-*"):
        if int(newer.name.split("-")[1]) > 2:
            shutil.rmtree(newer)
    with pytest.warns(IncompleteCheckpointWarning, match="checkpoint-2: no trainer_state.json"):
        assert main(arguments(setup, output)) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["resumed_from"] == os.path.join(str(output), "checkpoint-1")
    assert (incomplete / "trainer_state.json").is_file()  # the step was saved again, over the half-written one
    assert_same_run(output, reference)
