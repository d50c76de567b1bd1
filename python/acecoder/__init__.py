"""acecoder: turn code data into reward signal for code LLMs (after AceCoder, arXiv 2502.01718).

The public entry point for execution is :mod:`acecoder.exec`. Importing this package stays light: it pulls in no
torch, transformers, trl, vllm, openai or ray; those live in optional extras and are imported lazily.
"""

from acecoder.exec import Engine, ExecResult, IOTest, Limits, Status, TestResult, run_batch

__all__ = ["Engine", "ExecResult", "IOTest", "Limits", "Status", "TestResult", "__version__", "run_batch"]

__version__ = "0.1.0"
