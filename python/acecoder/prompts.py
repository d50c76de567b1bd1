"""The policy's prompt and the pair's response text, as AceCoder built them (arXiv 2502.01718, section 3).

The policy sees the question plus its first test, which pins down the function's name and signature; the same
prompt heads every preference pair, and a pair's responses are the extracted programs as Python code blocks.
"""

from __future__ import annotations

from collections.abc import Sequence


def policy_prompt(question: str, test_cases: Sequence[str]) -> str:
    """The question and, when there is one, its first test; ends with a newline, because TRL's reward trainer
    joins a pair's prompt and response with nothing between them."""
    question = question.strip()
    if not test_cases:
        return question + "\n"
    return f"{question}\n\nYour code should pass this test:\n{test_cases[0].strip()}\n"


def response_text(program: str) -> str:
    """A program as the Markdown code block a pair's chosen/rejected response holds."""
    return f"```python\n{program.strip()}\n```"
