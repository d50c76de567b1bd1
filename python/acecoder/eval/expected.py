"""Expected outputs of HumanEval+/MBPP+ tasks: the canonical solutions run on every input, through the engine.

The evalplus releases store inputs but not outputs; evalplus computes them by running each canonical solution on
``base_input`` and ``plus_input`` in its own process, timing every call (the times set the per-input limits).
acecoder does the same inside the sandbox: one job per (task, input set) whose program is the canonical solution
plus a small driver that calls the function on each input and prints the outputs and times (pickled, base64) to
stdout. The caller unpickles them with an unpickler that builds only plain builtin values, so even a hostile
"canonical" solution cannot run code here. Results are cached on disk, keyed by the dataset file's MD5 (evalplus's
key), so they are computed once per machine: ``$ACECODER_CACHE_DIR`` or ``~/.cache/acecoder``.
"""

from __future__ import annotations

import base64
import io
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from acecoder import digest as _digest_module
from acecoder.caching import cache_root
from acecoder.exec import Engine, ExecResult, Limits, Status
from acecoder.files import atomic_open

SPLITS = ("base", "plus")
# MBPP+ tasks whose outputs do not serialise (regex matches): only whether the result is None is compared.
MBPP_NOT_NONE_ENTRY_POINTS = frozenset({"check_str", "text_match_three", "text_starta_endb"})

_DIGEST_SOURCE = Path(_digest_module.__file__).read_text(encoding="utf-8")
_DRIVER = """

def __acecoder_expected_outputs():
    import base64, pickle, sys, time
    calls = pickle.loads(base64.b64decode({inputs!r}))
    outputs, seconds, digests = [], [], {{}}
    for index, arguments in enumerate(calls):
        started = time.perf_counter()
        output = {entry_point}(*arguments)
        seconds.append(time.perf_counter() - started)
        output = (output is not None) if {only_not_none!r} else output
        if len(pickle.dumps(output, protocol=4)) > {digest_above}:
            try:
                digests[index] = ("pickle_digest", value_digest(output))
            except DigestRefused:  # not plain builtin data (a Counter, a numpy array): its repr is hashed
                digests[index] = ("repr_digest", repr_digest(output))
            output = None
        outputs.append(output)
    sys.stdout.write(base64.b64encode(pickle.dumps((outputs, seconds, digests), protocol=4)).decode("ascii"))
    sys.stdout.flush()


__acecoder_expected_outputs()
"""
# An expected output larger than this (pickled) is kept as a digest: a few tasks expect outputs of hundreds of
# megabytes (Mbpp/255's combinations), which no job should carry. Such an input is judged by the "pickle_digest"
# oracle (acecoder.digest: equal plain builtin values of the same types hash alike), or, for an output that is not
# plain builtin data, by "repr_digest" (the SHA-256 of its repr).
DIGEST_ABOVE_BYTES = 4 << 20
CACHE_FORMAT = 3  # 3: digests are (oracle, hex digest) pairs

# What the unpickler may build: plain values only (the outputs of a canonical solution).
_SAFE_GLOBALS = {
    ("builtins", name) for name in ("complex", "set", "frozenset", "bytearray", "range", "slice", "list", "dict")
} | {("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "Counter")}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"an expected output of type {module}.{name} is not plain data")


def decode_outputs(text: str) -> tuple[list, list[float], dict[int, tuple[str, str]]]:
    """(outputs, seconds, digests of the outputs too large to keep) from the driver's stdout."""
    return _PlainUnpickler(io.BytesIO(base64.b64decode(text))).load()


def cache_directory() -> Path:
    return cache_root() / "expected_outputs"


def driver_program(task: Mapping, split: str, only_not_none: bool, start: int = 0, stop: int | None = None) -> str:
    """The canonical solution followed by a driver that prints its outputs on ``task[split + "_input"][start:stop]``."""
    inputs = base64.b64encode(pickle.dumps(task[f"{split}_input"][start:stop], protocol=4)).decode("ascii")
    driver = _DRIVER.format(
        inputs=inputs, entry_point=task["entry_point"], only_not_none=only_not_none, digest_above=DIGEST_ABOVE_BYTES
    )
    # The digest's definition follows the solution (a prompt may start with a __future__ import).
    return task["prompt"] + task["canonical_solution"] + "\n\n" + _DIGEST_SOURCE + driver


def ground_truth_engine(workers: int | None = None) -> Engine:
    """An engine sized for the drivers: long programs, large outputs captured whole."""
    limits = Limits(program_cpu_seconds=300.0, memory_bytes=4 << 30, output_bytes=200 << 20, capture_bytes=200 << 20)
    return Engine(workers=workers, limits=limits)


def compute_expected_outputs(
    tasks: Mapping[str, Mapping],
    family: str,
    *,
    workers: int | None = None,
    on_progress: Callable[[int, int], object] | None = None,
) -> dict[str, dict[str, list]]:
    """``{task_id: {"base": outputs, "base_time": seconds, "base_digest": {index: (oracle, digest)}, "plus": ...}}``.

    A few tasks have outputs of hundreds of megabytes (HumanEval/130's sequences): a driver whose output does
    not fit the engine's output cap is split in two, recursively, down to single inputs."""
    pending = [(task_id, split, 0, len(tasks[task_id][f"{split}_input"])) for task_id in tasks for split in SPLITS]
    total = len(pending)
    pieces: dict[tuple[str, str], dict[int, tuple[list, list, dict]]] = {}
    failures = []
    done = 0
    with ground_truth_engine(workers) as engine:
        while pending:
            programs = [
                driver_program(tasks[task_id], split, _only_not_none(tasks[task_id], family), start, stop)
                for task_id, split, start, stop in pending
            ]
            retry = []
            for index, result in engine.stream(programs, [[] for _ in programs]):
                task_id, split, start, stop = pending[index]
                if result.status == Status.OUTPUT_EXCEEDED and stop - start > 1:
                    middle = (start + stop) // 2
                    retry += [(task_id, split, start, middle), (task_id, split, middle, stop)]
                    total += 1
                    continue
                try:
                    pieces.setdefault((task_id, split), {})[start] = _outputs_of(result)
                except ValueError as error:
                    failures.append(f"{task_id} ({split}, inputs {start}:{stop}): {error}")
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
            pending = retry
    if failures:
        raise RuntimeError("canonical solutions failed, so their expected outputs are unknown:\n" + "\n".join(failures))
    expected: dict[str, dict[str, Any]] = {task_id: {} for task_id in tasks}
    for (task_id, split), parts in pieces.items():
        starts = sorted(parts)
        expected[task_id][split] = [output for start in starts for output in parts[start][0]]
        expected[task_id][f"{split}_time"] = [second for start in starts for second in parts[start][1]]
        expected[task_id][f"{split}_digest"] = {
            start + index: digest for start in starts for index, digest in parts[start][2].items()
        }
    return expected


def _only_not_none(task: Mapping, family: str) -> bool:
    return family == "mbpp" and task["entry_point"] in MBPP_NOT_NONE_ENTRY_POINTS


def _outputs_of(result: ExecResult) -> tuple[list, list[float], dict[int, tuple[str, str]]]:
    if result.status != Status.PASSED:
        detail = result.message or result.stderr[-500:] or result.status.value
        raise ValueError(f"{result.status.value}: {detail}")
    try:
        return decode_outputs(result.stdout)
    except (ValueError, pickle.UnpicklingError, EOFError) as error:
        raise ValueError(f"unreadable driver output ({error})") from None


def load_expected_outputs(
    tasks: Mapping[str, Mapping],
    family: str,
    digest: str,
    *,
    workers: int | None = None,
    on_progress: Callable[[int, int], object] | None = None,
    refresh: bool = False,
) -> dict[str, dict[str, list]]:
    """Expected outputs from the cache, computing (and caching) those of tasks it lacks (all, with ``refresh``)."""
    path = cache_directory() / f"{family}-{digest}-v{CACHE_FORMAT}.pkl"
    cached: dict = {}
    if path.is_file() and not refresh:
        try:
            with open(path, "rb") as handle:
                cached = pickle.load(handle)  # our own file, written below
        except (OSError, pickle.UnpicklingError, EOFError):
            cached = {}  # a damaged cache is recomputed
        if not isinstance(cached, dict):
            cached = {}
    missing = {task_id: task for task_id, task in tasks.items() if task_id not in cached}
    if missing:
        cached.update(compute_expected_outputs(missing, family, workers=workers, on_progress=on_progress))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as output:  # a concurrent reader sees the old file or the whole new one
            pickle.dump(cached, output, protocol=4)
    return {task_id: cached[task_id] for task_id in tasks}
