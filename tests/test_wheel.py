"""`make wheel` builds a wheel a user can install: manylinux + abi3, holding the engine, the harness and the data.

A plain `pip wheel .` is tagged `linux_x86_64`, which no package index accepts. The wheel is built with the
Makefile's own rule (one place for the flags), reusing a Rust build cache under target/wheel so that a rerun
takes seconds; a cold build is about a minute on two cores. Then it is installed into a fresh venv and run from
outside the checkout, so the test proves the installed copy works, not the source tree.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.prefix) / "bin"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        importlib.util.find_spec("ziglang") is None or not (BIN / "maturin").exists() or shutil.which("make") is None,
        reason="needs maturin and ziglang in this venv (the dev extra) and make",
    ),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # The zig-linked build kept apart from the editable install's target/ build, reused by later runs.
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target" / "wheel")
    subprocess.run(
        ["make", "--no-print-directory", "wheel", f"WHEEL_VENV={sys.prefix}", f"WHEEL_DIR={out}"],
        cwd=ROOT,
        env={**os.environ, "CARGO_TARGET_DIR": target},
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("*.whl")
    return path


def test_wheel_is_tagged_manylinux_and_abi3(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [name for name in archive.namelist() if name.endswith(".dist-info/WHEEL")]
        metadata = archive.read(name).decode()
    tags = [line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Tag: ")]
    assert "cp310-abi3-manylinux_2_17_x86_64" in tags, tags
    assert not any(tag.endswith("-linux_x86_64") for tag in tags), tags
    assert "manylinux_2_17_x86_64" in wheel.name and "-abi3-" in wheel.name


def test_wheel_holds_engine_harness_and_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    # Every Python file and data file of the package as the editable install sees it (bytecode aside).
    package = ROOT / "python"
    expected = {
        path.relative_to(package).as_posix()
        for path in (package / "acecoder").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so"
    }
    assert expected - names == set()
    assert "acecoder/_engine.abi3.so" in names
    for name in ("acecoder/harness/judge.py", "acecoder/harness/runner.py", "acecoder/py.typed", "acecoder/_engine.pyi"):
        assert name in names
    assert "acecoder/data/bundled/mbpp_plus_sample.jsonl" in names
    assert "acecoder/data/benchmark_data/HumanEvalPlus.jsonl.gz" in names


def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel], check=True)
    code = (
        "import acecoder, sys\n"
        "from acecoder.exec import run_batch\n"
        "from acecoder.data.bundled import BUNDLED_DIRECTORY\n"
        "from acecoder.data.benchmarks import load_humaneval_plus\n"
        "assert 'site-packages' in acecoder.__file__, acecoder.__file__\n"
        "[result] = run_batch(['def add(a, b):\\n    return a + b\\n'], [['assert add(1, 2) == 3']])\n"
        "print(result.status.value, len(load_humaneval_plus()), sorted(p.name for p in BUNDLED_DIRECTORY.iterdir()))\n"
    )
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    output = subprocess.run([python, "-c", code], cwd=tmp_path, env=clean, check=True, capture_output=True, text=True)
    assert output.stdout.split(" ", 2)[:2] == ["passed", "164"], output.stdout
    demo = subprocess.run(
        [environment / "bin" / "acecoder", "demo", "--engine-only", "--output-dir", tmp_path / "demo"],
        cwd=tmp_path,
        env=clean,
        check=True,
        capture_output=True,
        text=True,
    )
    assert (tmp_path / "demo" / "engine_results.jsonl").stat().st_size > 0, demo.stdout
