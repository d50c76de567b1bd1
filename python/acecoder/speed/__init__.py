"""Measuring the execution engine: workloads, the bare floor it is compared against, and report helpers.

Kept inside the package (not only under ``benches/``) because ``acecoder bench`` lets users measure their own
machines: an installed acecoder needs the workloads and the floor without a checkout. The side-by-side comparison
with other harnesses (``benches/bench_exec.py``) stays in the repository; its baselines are not library code.
"""

from __future__ import annotations

from acecoder.speed.floor import BareFloor, FloorResult
from acecoder.speed.workloads import WORKLOADS, Workload, build_workload

__all__ = ["WORKLOADS", "BareFloor", "FloorResult", "Workload", "build_workload"]
