"""Another commit's engine, built beside this checkout and run in its own process, for side-by-side benchmarks.

Why: a change to the engine is judged against the engine it replaces, in the same run on the same machine (these
machines are shared and their speed drifts by half within an hour). ``build(commit)`` exports that commit's tree
into ``benches/.previous/<commit>/`` (``git archive``: no worktree bookkeeping), builds its PyO3 module with cargo
(release, feature ``python``) and puts it where that tree's ``acecoder`` package imports it. ``PreviousEngine``
then runs batches through that package in a subprocess (``python`` with only that tree first on ``sys.path``),
so the two engines never share a process. A build is reused while its library is newer than nothing changed:
delete the directory to rebuild.

    runner = PreviousEngine(build("HEAD~1"), workers=2, test_seconds=4.0)
    passed, seconds, latencies = runner.run(programs, tests)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
BUILDS = Path(__file__).resolve().parent / ".previous"

# The subprocess that runs batches with the other engine: reads one JSON request per line on stdin (a batch, or
# "close"), answers one JSON line on stdout.
DRIVER = r"""
import json, sys, time
from acecoder.exec import Engine, Limits
settings = json.loads(sys.argv[1])
ballast = None
if settings.get("ballast_gb"):
    import os
    size = int(settings["ballast_gb"] * 1e9)
    ballast = bytearray(size)
    page = os.sysconf("SC_PAGE_SIZE")
    ballast[::page] = b"\x01" * len(range(0, size, page))
with Engine(workers=settings["workers"], limits=Limits(test_cpu_seconds=settings["test_seconds"])) as engine:
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("close"):
            break
        started = time.perf_counter()
        results = engine.run(request["programs"], request["tests"])
        seconds = time.perf_counter() - started
        answer = {"seconds": seconds, "passed": [r.passed for r in results], "latencies": [r.wall_time for r in results]}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
"""


def resolve(commit: str) -> str:
    """The full hash of ``commit`` in this repository."""
    return subprocess.run(
        ["git", "rev-parse", "--verify", commit + "^{commit}"], cwd=REPOSITORY, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip


def build(commit: str) -> Path:
    """The ``python`` directory of ``commit``'s tree with its engine built; builds it on first use."""
    full = resolve(commit)
    root = BUILDS / full[:12]
    python = root / "python"
    library = python / "acecoder" / "_engine.abi3.so"
    if library.exists():
        return python
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", full], cwd=REPOSITORY, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    environment = {**os.environ, "CARGO_TARGET_DIR": str(root / "target")}
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--lib", "--features", "python",
         "--manifest-path", str(root / "rust" / "Cargo.toml")],
        env=environment, check=True,
    )  # fmt: skip
    shutil.copy(root / "target" / "release" / "lib_engine.so", library)
    return python


class PreviousEngine:
    """A pool of ``commit``'s engine in a subprocess; ``run`` times one batch there (its own clock)."""

    def __init__(self, python_directory: Path, workers: int, test_seconds: float, ballast_gb: float = 0.0):
        settings = {"workers": workers, "test_seconds": test_seconds, "ballast_gb": ballast_gb}
        environment = {**os.environ, "PYTHONPATH": str(python_directory)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRIVER, json.dumps(settings)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=environment, text=True, cwd=str(python_directory),
        )  # fmt: skip
        self._read()

    def _read(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the previous engine's process ended (see its stderr)")
        return json.loads(line)

    def run(self, programs: list[str], tests: list[list]) -> tuple[list[int], float, list[float]]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"programs": programs, "tests": tests}) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        return answer["passed"], answer["seconds"], answer["latencies"]

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.write(json.dumps({"close": True}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)

    def __enter__(self) -> PreviousEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
