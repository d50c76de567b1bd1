"""Benchmark evaluation: HumanEval(+) and MBPP(+) with evalplus's verdicts, pass@k.

``acecoder.eval.evalplus.evaluate`` runs samples through the engine; ``acecoder evaluate`` is its command.
"""
