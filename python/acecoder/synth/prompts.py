"""The prompts of AceCoder's synthesis step (arXiv 2502.01718, section 2 and appendix), in our own words.

Rewrite: a LeetCode-style question that one function solves, with no external resources, and about 20
independent ``assert`` tests whose arguments and expected values are constants, answered as JSON
``{"question": ..., "tests": [...]}``. With an instruction, the model sees the original task and the reference
program; without one (raw code seeds), only the program. Oracle: the question with its first two tests, answered
with one Python code block; its greedy solution decides which tests survive.
"""

from __future__ import annotations

import ast

from acecoder.generation.base import Message

SYSTEM_PROMPT = "You are an expert Python programmer who writes precise programming problems and tests."

REWRITE_RULES = """Do the following.
1. Write a LeetCode-style question based on the material above:
   a. it is clear and self-contained: it says what the input is, what the output is, and gives the function name
      and its parameters;
   b. it is solved by implementing exactly one Python function (no classes, no programs reading input);
   c. it needs no external resources: no files, network, databases, randomness or current time;
   d. it may reuse parts of the original task; do not ask for complexity analysis or for tests.
2. Write about {num_tests} test cases for your question. Each test is one independent `assert` statement that
   calls the function with constant arguments and compares the result with a constant expected value.

Answer with JSON only, in exactly this format:
{{"question": "<the question>", "tests": ["assert ...", "assert ..."]}}"""

REWRITE_WITH_INSTRUCTION = (
    """Turn a coding task and its reference solution into a well-defined programming question with tests.

The original task:
{instruction}

Its reference solution:
```python
{program}
```

"""
    + REWRITE_RULES
)

REWRITE_WITHOUT_INSTRUCTION = (
    """Turn a piece of code into a well-defined programming question with tests.

The code:
```python
{program}
```

"""
    + REWRITE_RULES
)

ORACLE_PROMPT = """{question}

Your function must pass these tests:
{tests}

Write the complete solution as one Python code block."""


def rewrite_messages(program: str, instruction: str | None, num_tests: int = 20) -> tuple[Message, ...]:
    """The chat that asks for ``{"question", "tests"}`` from a seed (with or without its instruction)."""
    if instruction and instruction.strip():
        user = REWRITE_WITH_INSTRUCTION.format(
            instruction=instruction.strip(), program=program.strip(), num_tests=num_tests
        )
    else:
        user = REWRITE_WITHOUT_INSTRUCTION.format(program=program.strip(), num_tests=num_tests)
    return ({"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user})


def oracle_messages(question: str, tests: list[str], shown: int = 2) -> tuple[Message, ...]:
    """The chat that asks the oracle model for a solution, showing the first ``shown`` tests."""
    user = ORACLE_PROMPT.format(question=question.strip(), tests="\n".join(tests[:shown]))
    return ({"role": "user", "content": user},)


# The format for small models (``SynthConfig.format == "lines"``): JSON is beyond a 135M-parameter model, but a reply
# already begun as a code block of asserts on the function (``assert name(``) is one it continues, a test per line.
TESTS_BY_LINE = """{instruction}

```python
{program}
```

Write tests for {name} as assert statements, one per line."""
TESTS_BY_LINE_START = "```python\nassert {name}("
SEED_QUESTION = """{instruction}

Write the Python function `{signature}`."""


def entry_function(program: str) -> ast.FunctionDef | None:
    """The function a seed program is about: of its top-level functions, the last one that no other calls (helpers
    come first and are called); None when the program has none or does not parse."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    called = {
        node.func.id
        for function in functions
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id != function.name
    }
    candidates = [function for function in functions if function.name not in called] or functions
    return candidates[-1] if candidates else None


def lines_messages(program: str, instruction: str | None, name: str) -> tuple[Message, ...]:
    """The chat for the small-model format, ending with the start of the reply the model continues."""
    user = TESTS_BY_LINE.format(instruction=(instruction or "").strip(), program=program.strip(), name=name).lstrip()
    return ({"role": "user", "content": user}, {"role": "assistant", "content": TESTS_BY_LINE_START.format(name=name)})


def seed_question(instruction: str | None, function: ast.FunctionDef) -> str | None:
    """The question of the small-model format: the seed's own task and the signature of its function (a 135M model
    cannot write a clear question; AceCode rows keep the same shape). None without an instruction."""
    if not instruction or not instruction.strip():
        return None
    signature = "def %s(%s)" % (function.name, ast.unparse(function.args))
    return SEED_QUESTION.format(instruction=instruction.strip(), signature=signature)


def question_messages(question: str) -> list[Message]:
    """AceCode's ``context_messages`` for a question: the conversation a policy is asked to answer."""
    return [{"role": "user", "content": question}]


# Hardening (``acecoder.synth.harden``): the question, its tests and a wrong program they let through, shown as the
# diff from the correct solution; the model writes tests that tell the two apart.
HARDEN_PROMPT = """{question}

A correct solution passes all of these tests:
```python
{tests}
```

The change below makes the correct solution wrong, yet the changed program still passes every test above:
```diff
{diff}```

Write {count} new tests for `{name}` that the correct solution passes and the changed program fails: each one
`assert` statement on its own line, with constant arguments and expected values. Answer with one Python code block."""


def harden_messages(
    question: str, tests: list[str], diff: str, name: str, count: int = 5, begin_reply: bool = False
) -> tuple[Message, ...]:
    """The chat that asks for tests killing a surviving mutant; with ``begin_reply`` it ends with the start of the
    reply (``assert name(``) for a small model to continue, as in the line format."""
    user = HARDEN_PROMPT.format(question=question.strip(), tests="\n".join(tests), diff=diff, name=name, count=count)
    messages: tuple[Message, ...] = ({"role": "user", "content": user},)
    if begin_reply:
        messages += ({"role": "assistant", "content": TESTS_BY_LINE_START.format(name=name)},)
    return messages
