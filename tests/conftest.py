"""Shared fixtures: one engine per test module (workers are cheap but not free), the offline data beside the
checkout (`../shared`, or `ACECODER_SHARED`), and a check that no test leaves a worker process behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from acecoder.exec import Engine, Limits

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACECODER_SHARED", REPOSITORY.parent / "shared"))

# Short limits keep timeout tests quick; generous enough that honest jobs never hit them on a busy 2-core machine.
FAST_LIMITS = Limits(test_cpu_seconds=1.0, program_cpu_seconds=2.0, wall_multiplier=3.0, wall_slack_seconds=1.0)


@pytest.fixture(scope="module")
def engine():
    with Engine(workers=2, limits=FAST_LIMITS) as running:
        yield running


def hostile_cases() -> list[dict]:
    path = SHARED / "hostile" / "cases.jsonl"
    if not path.exists():
        pytest.skip(f"hostile cases not found at {path} (set ACECODER_SHARED)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def process_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def strays(caller: int, workers: list[int]) -> set[int]:
    """Processes below ``caller`` that are not the engine's own idle ones: each worker may hold its runner zygote
    and one spare runner (forked ahead of the next job), and nothing else once a batch is done."""
    found = descendants(caller) - set(workers)
    for worker in workers:
        below = descendants(worker)
        if len(below) <= 2:
            found -= below
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found and process_alive(child):
                found.add(child)
                stack.append(child)
    return found
