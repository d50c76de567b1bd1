"""Test-case synthesis (step one of AceCoder): seed code → LeetCode-style question + ~20 asserts → oracle-filtered
tests → AceCode rows.

Modules: ``backends`` (LLM backends behind one protocol, with an on-disk response cache), ``prompts`` (AceCoder's
prompts), ``parsing`` (reply parsing with truncation repair and test filtering), ``oracle`` (filtering tests by
an oracle model's solution run through the engine), ``pipeline`` (the resumable driver). Nothing here imports
openai, vllm or torch until a backend that needs it is built.
"""
