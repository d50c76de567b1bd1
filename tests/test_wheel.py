"""`make wheel` builds a wheel a user can install: manylinux + abi3, holding the engine, the harness and the data;
`make sdist` a source archive from which pip builds the same package with cargo.

A plain `pip wheel .` is tagged `linux_x86_64`, which no package index accepts. The wheel is built with the
Makefile's own rule (one place for the flags), reusing a Rust build cache under target/wheel so that a rerun
takes seconds; a cold build is about a minute on two cores. Then it is installed into a fresh venv and run from
outside the checkout, so the test proves the installed copy works, not the source tree: a small batch, the demo,
and the engine's own test files, copied into a temporary directory and run by that venv with no Rust toolchain on
its PATH (what a user who installs the wheel has). Those files need pytest, pytest-timeout and numpy (judge and
verdict cases compare arrays), which pip installs there within constraints.txt.

The sdist is built by pip as a user would (`pip wheel <sdist>`, an isolated build with maturin from the index and
cargo from the PATH), into target/sdist: a cold build took 2 min 27 s on two busy cores, a warm one 7 s.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.prefix) / "bin"
# The engine's own tests that need nothing of the checkout but the files beside them (test_sandbox imports
# test_hostile; both read tests/hostile/). The pipeline and CLI tests import optional extras and are left out.
ENGINE_TEST_FILES = (
    "test_exec.py", "test_sandbox.py", "test_hostile.py", "test_judge.py", "test_containment.py", "test_verdicts.py"
)  # fmt: skip
# All of them are copied (test_sandbox imports test_hostile), but test_hostile runs only the published cases of
# ../shared/hostile, which a machine without them skips: it is not run there rather than counted as run.
ENGINE_TESTS = tuple(
    name for name in ENGINE_TEST_FILES if name != "test_hostile.py" or (SHARED / "hostile" / "cases.jsonl").exists()
)
TEST_REQUIREMENTS = ("pytest", "pytest-timeout", "numpy")
# The only commands the engine tests run; the tests' PATH holds links to these and the venv's bin, nothing else.
COMMANDS = ("kill", "setpriv")

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


def fresh_venv(directory: Path, wheel: Path, requirements: tuple[str, ...] = ()) -> Path:
    """A new venv in `directory` holding `wheel` and its own dependencies (the core has one, tqdm), then
    `requirements`, all pinned by constraints.txt."""
    venv.create(directory, with_pip=True)
    python = directory / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-c", ROOT / "constraints.txt", wheel],
        check=True,
        capture_output=True,
    )
    if requirements:
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "-c", ROOT / "constraints.txt", *requirements],
            check=True,
            capture_output=True,
        )
    return python


@dataclass(frozen=True)
class Installed:
    """The wheel installed in a fresh venv with the test requirements, the engine tests copied beside it."""

    python: Path
    tests: Path
    environment: dict[str, str]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    python = fresh_venv(root / "venv", wheel, TEST_REQUIREMENTS)
    # A copy of the tests with the pytest settings (pyproject.toml) and no `python/`: only the venv's acecoder
    # can be imported.
    tests = root / "checkout" / "tests"
    tests.mkdir(parents=True)
    for name in ("conftest.py", *ENGINE_TEST_FILES):
        shutil.copy(ROOT / "tests" / name, tests / name)
    shutil.copytree(ROOT / "tests" / "hostile", tests / "hostile", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tests.parent / "pyproject.toml")
    commands = root / "commands"
    commands.mkdir()
    for command in COMMANDS:
        found = shutil.which(command, path="/usr/bin:/bin")
        if found is not None:
            (commands / command).symlink_to(found)
    home = root / "home"
    home.mkdir()
    # Built from nothing rather than from os.environ, so no CARGO_HOME, RUSTUP_HOME or PYTHONPATH comes along.
    environment = {
        "PATH": os.pathsep.join([str(python.parent), str(commands)]),
        "HOME": str(home),
        "ACECODER_SHARED": str(SHARED),
        **({"TMPDIR": os.environ["TMPDIR"]} if "TMPDIR" in os.environ else {}),
    }
    return Installed(python, tests, environment)


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
    for name in (
        "acecoder/harness/judge.py",
        "acecoder/harness/runner.py",
        "acecoder/py.typed",
        "acecoder/_engine.pyi",
    ):
        assert name in names
    assert "acecoder/data/bundled/mbpp_plus_sample.jsonl" in names
    assert "acecoder/data/benchmark_data/HumanEvalPlus.jsonl.gz" in names


def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    python = fresh_venv(environment, wheel)
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


def test_installed_wheel_has_no_rust_toolchain_and_no_checkout_in_reach(installed: Installed) -> None:
    code = (
        "import acecoder, shutil\n"
        "print(acecoder.__file__, shutil.which('cargo'), shutil.which('rustc'), shutil.which('python'))\n"
    )
    output = subprocess.run(
        [installed.python, "-c", code], cwd=installed.tests, env=installed.environment, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    module, cargo, rustc, python = output.stdout.split()
    assert Path(module).is_relative_to(installed.python.parents[1]) and "site-packages" in module, module
    assert (cargo, rustc) == ("None", "None")
    assert Path(python).parent == installed.python.parent
    assert not (installed.tests.parent / "python").exists()


@pytest.mark.parametrize("name", ENGINE_TESTS)
def test_engine_tests_pass_against_the_installed_wheel(installed: Installed, name: str) -> None:
    finished = subprocess.run(
        [installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", name],
        cwd=installed.tests,
        env=installed.environment,
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 0, finished.stdout[-6000:] + finished.stderr[-2000:]
    summary = finished.stdout.strip().splitlines()[-1]
    outcomes = {outcome: int(count) for count, outcome in re.findall(r"(\d+) (\w+)", summary)}
    assert outcomes.get("passed", 0) > 0 and not {"failed", "error", "errors"} & outcomes.keys(), summary


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        ["make", "--no-print-directory", "sdist", f"WHEEL_VENV={sys.prefix}", f"WHEEL_DIR={out}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("*.tar.gz")
    return path


def test_sdist_holds_the_rust_sources_the_lock_file_and_the_package(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    rust = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "rust").rglob("*")
        if path.is_file() and (path.suffix == ".rs" or path.name == "Cargo.toml")
    }
    package = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "python" / "acecoder").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so"
    }
    assert {"Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md", "rust/src/lib.rs"} <= names
    assert rust - names == set()
    assert package - names == set()
    assert "python/acecoder/data/bundled/mbpp_plus_sample.jsonl" in names
    assert "python/acecoder/data/benchmark_data/HumanEvalPlus.jsonl.gz" in names
    assert not any(name.endswith(".so") for name in names), "a built engine in the sdist"


def test_sdist_builds_with_cargo_and_runs_a_batch(sdist: Path, tmp_path: Path) -> None:
    # --no-cache-dir: pip keeps wheels it built from an archive and would hand back the last one without building.
    built = tmp_path / "built"
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target" / "sdist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--no-deps", "--wheel-dir", built, sdist],
        env={**os.environ, "CARGO_TARGET_DIR": target},
        check=True,
        capture_output=True,
    )
    (wheel,) = built.glob("*.whl")
    assert "-cp310-abi3-" in wheel.name, wheel.name
    python = fresh_venv(tmp_path / "venv", wheel)
    code = (
        "import acecoder\n"
        "from acecoder.exec import run_batch\n"
        "assert 'site-packages' in acecoder.__file__, acecoder.__file__\n"
        "add = 'def add(a, b):\\n    return a + b\\n'\n"
        "results = run_batch([add, add], [['assert add(1, 2) == 3'], ['assert add(1, 2) == 4']])\n"
        "print(*(result.status.value for result in results))\n"
    )
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    output = subprocess.run([python, "-c", code], cwd=tmp_path, env=clean, check=True, capture_output=True, text=True)
    assert output.stdout.split() == ["passed", "failed"], output.stdout
