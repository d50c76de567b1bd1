"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1).

With ``n`` samples of which ``c`` are correct, pass@k = 1 - C(n-c, k) / C(n, k), computed as a running product so
that large ``n`` neither overflows nor loses precision.
"""

from __future__ import annotations

from collections.abc import Sequence

STANDARD_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def pass_at_k(samples: int, correct: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn without replacement from ``samples`` is correct."""
    if not 0 <= correct <= samples:
        raise ValueError(f"need 0 <= correct <= samples, got correct={correct}, samples={samples}")
    if not 1 <= k <= samples:
        raise ValueError(f"need 1 <= k <= samples, got k={k}, samples={samples}")
    if samples - correct < k:
        return 1.0
    all_wrong = 1.0
    for drawn in range(samples - correct + 1, samples + 1):
        all_wrong *= 1.0 - k / drawn
    return 1.0 - all_wrong


def mean_pass_at_k(samples: Sequence[int], correct: Sequence[int], k: int) -> float:
    """pass@k averaged over problems (``samples[i]``, ``correct[i]`` per problem)."""
    if len(samples) != len(correct) or not samples:
        raise ValueError("need one (samples, correct) pair per problem, and at least one problem")
    return sum(pass_at_k(n, c, k) for n, c in zip(samples, correct)) / len(samples)


def allowed_ks(samples: Sequence[int], ks: Sequence[int] = STANDARD_KS) -> list[int]:
    """The ks every problem has enough samples for."""
    fewest = min(samples, default=0)
    return [k for k in ks if k <= fewest]
