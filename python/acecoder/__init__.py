"""acecoder: turn code data into reward signal for code LLMs (after AceCoder, arXiv 2502.01718).

The public entry point for execution is :mod:`acecoder.exec`. Importing this package stays light: it pulls in no
torch, transformers, trl, vllm, openai or ray; those live in optional extras and are imported lazily. Even the
engine's native module loads only when one of the names below is first used, so that the engine's own worker
processes (``acecoder.harness``) can import the package from any interpreter, built extension or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acecoder.exec import Engine, ExecResult, IOTest, Limits, Status, TestResult, run_batch

__all__ = ["Engine", "ExecResult", "IOTest", "Limits", "Status", "TestResult", "__version__", "run_batch"]

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        from acecoder import exec as execution

        return getattr(execution, name)
    raise AttributeError(f"module 'acecoder' has no attribute {name!r}")
