"""Test-case synthesis (step one of AceCoder): seed code → LeetCode-style question + ~20 asserts → oracle-filtered
tests → AceCode rows.

Modules: ``prompts`` (AceCoder's
prompts), ``parsing`` (reply parsing with truncation repair and test filtering), ``oracle`` (filtering tests by
an oracle model's solution run through the engine), ``pipeline`` (the resumable driver). The LLM backends live in ``acecoder.generation``,
shared with sampling and best-of-N; nothing here imports openai, vllm or torch until a backend that needs it is built.
"""
