"""Code extraction on long completions: seconds and peak memory per completion shape and size, against the
previous ``acecoder/extract.py``, side by side in one run.

Why: ``extract_code`` runs on every sampled completion before anything is scored, in the main process. A model
that loops writes megabytes; a 20 MB completion of statements once took 57 s and 7.4 GB there, and a paragraph of
prose grew with the square of its length (6 s per 100 KB). Extraction must be linear in the completion's length.

The previous implementation is ``git show REV:python/acecoder/extract.py`` loaded into a module of its own (it
shares ``acecoder.special_tokens`` with this checkout). REV defaults to the commit before the last one that changed
the file, or HEAD when the working tree's file differs from HEAD's. Each measurement runs in a fresh subprocess:
its peak memory is that process's ``ru_maxrss`` (a Python interpreter alone is ~15 MB), its time the
``extract_code`` call only, and a case past ``--timeout`` seconds is reported as ``>`` that.

    .venv/bin/python benches/bench_extract.py                     # 100 KB, 1 MB, 20 MB; ~15 minutes on 2 cores
    .venv/bin/python benches/bench_extract.py --sizes 100000,1000000 --previous 2943cc7
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
EXTRACT = "python/acecoder/extract.py"
SHAPES = ("statements", "one fence", "many fences", "chatter")

# Runs in the subprocess: builds the completion, loads the implementation asked for, times one extraction.
MEASURE = r"""
import json, resource, sys, time, types
shape, size, source_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
statement = "total = compute(1, 2) + 3\n"
if shape == "statements":
    text = statement * (size // len(statement))
elif shape == "one fence":
    text = "Here is the program:\n```python\n" + statement * (size // len(statement)) + "```\nDone."
elif shape == "many fences":
    block = "```python\ndef f(x):\n    return x + 1\n```\nThat adds one; here it is again.\n"
    text = block * (size // len(block))
else:
    sentence = "This is prose about the problem and how to solve it, with no code at all.\n"
    text = sentence * (size // len(sentence))
if source_path == "-":
    from acecoder.extract import extract_code
else:
    module = types.ModuleType("previous_extract")
    module.__file__ = source_path
    exec(compile(open(source_path).read(), source_path, "exec"), module.__dict__)
    extract_code = module.extract_code
started = time.perf_counter()
program = extract_code(text)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak": peak, "program": len(program)}))
"""


def previous_revision() -> str:
    """The commit whose ``extract.py`` this checkout's replaced."""

    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=REPOSITORY, capture_output=True, text=True, check=True).stdout

    if git("diff", "--name-only", "HEAD", "--", EXTRACT).strip():
        return "HEAD"
    commits = git("log", "-n", "2", "--format=%H", "--", EXTRACT).split()
    return commits[-1]


def measure(shape: str, size: int, source: str, timeout: float) -> dict | None:
    """One extraction in a fresh process; ``None`` when it ran past ``timeout`` seconds."""
    try:
        finished = subprocess.run(
            [sys.executable, "-c", MEASURE, shape, str(size), source], capture_output=True, text=True, check=True,
            timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    return json.loads(finished.stdout.strip().splitlines()[-1])


def seconds_text(result: dict | None, timeout: float) -> str:
    return f">{timeout:.0f}" if result is None else f"{result['seconds']:.3f}"


def peak_text(result: dict | None) -> str:
    return "-" if result is None else f"{result['peak'] / 2**20:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,20000000", help="completion sizes in characters")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--previous", default=None, help="the commit to compare with (default: see the module doc)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per extraction before giving up")
    arguments = parser.parse_args(argv)
    revision = arguments.previous or previous_revision()
    source = subprocess.run(["git", "show", f"{revision}:{EXTRACT}"], cwd=REPOSITORY, capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    previous_path = Path(__file__).resolve().parent / ".previous_extract.py"
    previous_path.write_text(source)
    print(f"previous: {revision[:12]}:{EXTRACT}; timeout {arguments.timeout:.0f} s per extraction")
    print(f"{'shape':<12} {'size':>10} {'now s':>8} {'before s':>9} {'speedup':>8} {'now MiB':>8} {'before MiB':>10}"
          f" {'same':>5}")  # fmt: skip
    try:
        for size in (int(text) for text in arguments.sizes.split(",")):
            for shape in arguments.shapes.split(","):
                now = measure(shape, size, "-", arguments.timeout)
                before = measure(shape, size, str(previous_path), arguments.timeout)
                if now is not None and before is not None:
                    speedup = f"{before['seconds'] / max(now['seconds'], 1e-6):.1f}x"
                elif now is not None:
                    speedup = f">{arguments.timeout / max(now['seconds'], 1e-6):.0f}x"
                else:
                    speedup = "-"
                same = (
                    "-" if now is None or before is None else ("yes" if now["program"] == before["program"] else "NO")
                )
                print(f"{shape:<12} {size:>10,} {seconds_text(now, arguments.timeout):>8} "
                      f"{seconds_text(before, arguments.timeout):>9} {speedup:>8} {peak_text(now):>8} "
                      f"{peak_text(before):>10} {same:>5}", flush=True)  # fmt: skip
    finally:
        previous_path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
