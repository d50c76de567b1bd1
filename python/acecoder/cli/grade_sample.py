"""``acecoder demo --engine-only``: grade the bundled MBPP+ sample (canonical solutions and one mutant of each)
and print a pass-rate summary.

The quickest check of a new machine (seconds, no model): it starts the sandboxed engine, runs a few hundred real
(program, tests) jobs, and shows what the engine reports for correct and for subtly wrong programs.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time


def run(arguments: argparse.Namespace) -> int:
    from acecoder.cli.progress import Progress
    from acecoder.data.bundled import DEMO_SAMPLE, load_jsonl
    from acecoder.exec import Engine

    source = arguments.input or DEMO_SAMPLE
    rows = load_jsonl(source)
    bad = [
        index
        for index, row in enumerate(rows)
        if not isinstance(row.get("program"), str) or not isinstance(row.get("tests"), list)
    ]
    if bad:
        print(f"error: {source}: rows {bad[:5]} lack a str 'program' or a list 'tests'", file=sys.stderr)
        return 2
    programs = [row["program"] for row in rows]
    tests = [row["tests"] for row in rows]
    print(f"acecoder demo: {len(rows)} programs, {sum(map(len, tests))} tests from {source}")
    started = time.perf_counter()
    done = 0
    progress = Progress()
    with Engine(workers=arguments.workers) as engine:
        print(f"  engine: {engine.workers} sandboxed workers")

        def advance(index: int, result: object) -> None:
            nonlocal done
            done += 1
            progress.update("graded", done, len(rows))

        try:
            results = engine.run(programs, tests, callback=advance)
        finally:
            progress.close()
    elapsed = time.perf_counter() - started

    by_variant: dict[str, list[float]] = collections.defaultdict(list)
    statuses: collections.Counter[str] = collections.Counter()
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    with open(arguments.output, "w", encoding="utf-8") as handle:
        for row, result in zip(rows, results):
            by_variant[row.get("variant", "all")].append(result.pass_rate)
            statuses[result.status.value] += 1
            record = {key: row[key] for key in ("task_id", "variant") if key in row}
            record.update(
                status=result.status.value, passed=result.passed, total=result.total, pass_rate=result.pass_rate
            )
            handle.write(json.dumps(record) + "\n")

    total_tests = sum(result.total for result in results)
    print()
    print(f"  {'variant':<12}{'programs':>10}{'mean pass rate':>16}{'all pass':>10}")
    for variant, rates in sorted(by_variant.items()):
        all_pass = sum(1 for rate in rates if rate == 1.0)
        print(f"  {variant:<12}{len(rates):>10}{sum(rates) / len(rates):>16.3f}{all_pass:>10}")
    print()
    print("  job statuses: " + ", ".join(f"{name} {count}" for name, count in statuses.most_common()))
    print(f"  {len(results) / elapsed:,.0f} programs/s, {total_tests / elapsed:,.0f} tests/s ({elapsed:.2f} s)")
    print(f"  per-job results written to {arguments.output}")
    return 0
