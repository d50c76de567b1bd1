"""Files bundled with the package (this folder), found through the package itself so an installed acecoder needs no
checkout.

``mbpp_plus_sample.jsonl``: 120 MBPP+ tasks (Apache-2.0, github.com/evalplus/mbppplus_release), each with its
canonical solution and one mechanical mutant of it (see ``acecoder.data.mutants``), and the task's assert tests
split one per statement. It is the default input of ``acecoder demo``. Regenerate with
``python -m acecoder.data.mutants --output python/acecoder/data/bundled/mbpp_plus_sample.jsonl``.
"""

from __future__ import annotations

from pathlib import Path

from acecoder.data.benchmarks import read_jsonl as load_jsonl  # JSON lines, gzip-compressed or not

BUNDLED_DIRECTORY = Path(__file__).parent  # this package is the folder of the bundled files
DEMO_SAMPLE = BUNDLED_DIRECTORY / "mbpp_plus_sample.jsonl"


def load_demo_sample() -> list[dict]:
    """Rows ``{task_id, variant, program, tests}`` of the bundled MBPP+ sample."""
    return load_jsonl(DEMO_SAMPLE)
