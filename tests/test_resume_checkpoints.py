"""Which checkpoint a training run resumes from (``acecoder.train.checkpoints``): the newest one whose trainer state
reads back; a half-written newer one (no ``trainer_state.json``, or a torn one) is skipped with a warning that names
it. Pure file-system logic: no torch needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acecoder.train.checkpoints import (
    IncompleteCheckpointWarning,
    checkpoint_problem,
    last_complete_checkpoint,
    resume_checkpoint,
)


def checkpoint(output: Path, step: int, state: str | None = "complete") -> Path:
    directory = output / f"checkpoint-{step}"
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(b"weights")
    if state == "complete":
        (directory / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    elif state == "torn":
        (directory / "trainer_state.json").write_text('{"global_step": %d, "log_hi' % step)
    return directory


def test_the_newest_complete_checkpoint_wins_and_numbers_sort_as_numbers(tmp_path):
    for step in (2, 9, 10):
        checkpoint(tmp_path, step)
    (tmp_path / "checkpoint-11.tmp").mkdir()  # not a checkpoint name
    (tmp_path / "checkpoint-12").write_text("a file, not a directory")
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


@pytest.mark.parametrize("state, reason", [(None, "no trainer_state.json"), ("torn", "cut short")])
def test_an_incomplete_newest_checkpoint_is_skipped_with_a_warning(tmp_path, state, reason):
    checkpoint(tmp_path, 1)
    incomplete = checkpoint(tmp_path, 2, state)
    with pytest.warns(IncompleteCheckpointWarning, match=f"checkpoint-2: .*{reason}.*older one"):
        assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-1")
    assert incomplete.is_dir()  # skipped, never deleted


def test_no_complete_checkpoint_means_a_fresh_start(tmp_path):
    assert last_complete_checkpoint(tmp_path / "missing") is None
    assert last_complete_checkpoint(tmp_path) is None
    checkpoint(tmp_path, 1, state=None)
    with pytest.warns(IncompleteCheckpointWarning, match="starting from the beginning"):
        assert last_complete_checkpoint(tmp_path) is None


def test_an_explicit_checkpoint_must_be_complete(tmp_path):
    complete, incomplete = checkpoint(tmp_path, 1), checkpoint(tmp_path, 2, state=None)
    assert resume_checkpoint(tmp_path, resume=False, explicit=str(complete)) == str(complete)
    with pytest.raises(ValueError, match="checkpoint-2: no trainer_state.json"):
        resume_checkpoint(tmp_path, resume=True, explicit=str(incomplete))
    with pytest.raises(ValueError, match="no such directory"):
        resume_checkpoint(tmp_path, resume=True, explicit=str(tmp_path / "checkpoint-7"))
    assert resume_checkpoint(tmp_path, resume=False) is None
    assert checkpoint_problem(complete) is None
