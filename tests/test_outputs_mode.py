"""Outputs honour the umask: files written atomically (temporary file, then rename) get the permissions an
ordinary ``open(path, "w")`` gives them, not the 0600 of ``tempfile``."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from acecoder.cli import main
from acecoder.data.acecode import write_rows
from acecoder.files import atomic_open, atomic_write_bytes, atomic_write_text, chmod_like_open, current_umask, open_mode


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def plain_open_mode(path) -> int:
    """What open() gives a new file here and now: the reference every atomic write must match."""
    with open(path, "w"):
        pass
    found = mode(path)
    os.unlink(path)
    return found


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_atomic_writes_get_the_mode_open_gives(tmp_path, mask):
    with umask(mask):
        assert current_umask() == mask
        expected = plain_open_mode(tmp_path / "reference")
        assert expected == 0o666 & ~mask
        atomic_write_text(tmp_path / "a.txt", "text")
        atomic_write_bytes(tmp_path / "b.bin", b"bytes")
        write_rows([{"id": "q"}], tmp_path / "rows.jsonl")
    assert (tmp_path / "a.txt").read_text() == "text" and (tmp_path / "b.bin").read_bytes() == b"bytes"
    assert [mode(tmp_path / name) for name in ("a.txt", "b.bin", "rows.jsonl")] == [expected] * 3
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.bin", "rows.jsonl"]  # no leftovers


def test_parquet_rows_get_the_mode_open_gives(tmp_path):
    pytest.importorskip("datasets")
    with umask(0o022):
        write_rows([{"id": "q", "question": "?"}], tmp_path / "rows.parquet")
    assert mode(tmp_path / "rows.parquet") == 0o644


def test_an_existing_file_keeps_its_mode_as_with_open(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    assert open_mode(target) == 0o640
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [path.name for path in tmp_path.iterdir()] == ["out.txt"]


def test_chmod_like_open_repairs_what_a_library_wrote_0600(tmp_path):
    """safetensors' save_file writes 0600; a training output directory gets open()'s mode back."""
    (tmp_path / "model").mkdir()
    for name in ("model/model.safetensors", "model/config.json"):
        (tmp_path / name).write_text("{}")
        os.chmod(tmp_path / name, 0o600)
    with umask(0o022):
        chmod_like_open(tmp_path / "model")
    assert {mode(path) for path in (tmp_path / "model").iterdir()} == {0o644}


def test_pairs_and_hard_subset_outputs_are_readable_by_others(tmp_path):
    rows = [{"id": "q", "question": "Write f.", "test_cases": ["assert f(1) == 2"],
             "inferences": [{"completion_id": 0, "program": "a = 1", "pass_rate": 1.0},
                            {"completion_id": 1, "program": "a = 2", "pass_rate": 0.5}]}]  # fmt: skip
    rates = tmp_path / "rates.jsonl"
    rates.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with umask(0o022):
        assert main(["pairs", "--input", str(rates), "--output", str(tmp_path / "pairs.jsonl")]) == 0
        assert main(["hard-subset", "--input", str(rates), "--output", str(tmp_path / "hard.jsonl")]) == 0
    assert mode(tmp_path / "pairs.jsonl") == mode(tmp_path / "hard.jsonl") == 0o644


def test_the_expected_outputs_cache_gets_the_mode_open_gives(tmp_path, monkeypatch):
    from acecoder.eval import expected

    monkeypatch.setenv("ACECODER_CACHE_DIR", str(tmp_path))
    computed = {"T/0": {"base": [1], "base_time": [0.1], "base_digest": {}}}
    monkeypatch.setattr(expected, "compute_expected_outputs", lambda tasks, family, **options: computed)
    with umask(0o022):
        assert expected.load_expected_outputs({"T/0": {}}, "mbpp", "digest") == computed
    [cache] = (tmp_path / "expected_outputs").iterdir()
    assert mode(cache) == 0o644


def test_saved_models_are_readable_by_others(tmp_path):
    """save_pretrained writes model.safetensors 0600 through safetensors; every model this package saves (here the
    tiny test model, the same save path as train-rm/train-rl outputs) gets open()'s mode."""
    pytest.importorskip("torch")
    from acecoder.models.loading import build_tiny_model

    with umask(0o022):
        directory = build_tiny_model(tmp_path / "tiny", tokenizer="bigcode")
    weights = list(directory.glob("*.safetensors"))
    assert weights and {mode(path) for path in weights} == {0o644}
