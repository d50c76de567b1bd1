"""Parsing test-synthesis replies: clean JSON, truncation at every position, fences, chatter, escape and literal
repairs, test filtering (syntax, non-asserts, duplicates, unsafe), and garbage that must never raise."""

from __future__ import annotations

import json

import pytest
from acecoder.synth.parsing import DROP_REASONS, ParsedReply, filter_tests, parse_reply

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Quick and self-contained: no example database written into the working tree.
PROPERTY = settings(max_examples=200, deadline=None, database=None)

QUESTION = (
    'Write a function `summarize(records: list[dict]) -> dict` that groups {"name": ..., "score": ...} records by '
    "name and returns each name's total score. Names may contain quotes (\"), backslashes (\\) and brackets [ ]."
)

# Twenty distinct tests full of what trips a naive parser: quotes, escapes, braces, brackets, commas, unicode.
ORIGINAL_TESTS = [
    "assert summarize([]) == {}",
    "assert summarize([{'name': 'a', 'score': 1}]) == {'a': 1}",
    "assert summarize([{'name': 'a', 'score': 1}, {'name': 'a', 'score': 2}]) == {'a': 3}",
    'assert summarize([{"name": "b", "score": 0}]) == {"b": 0}',
    "assert summarize([{'name': 'it\\'s', 'score': 5}]) == {\"it's\": 5}",
    "assert summarize([{'name': 'back\\\\slash', 'score': 2}]) == {'back\\\\slash': 2}",
    "assert summarize([{'name': '[x]', 'score': 3}]) == {'[x]': 3}",
    "assert summarize([{'name': '{y}', 'score': 4}]) == {'{y}': 4}",
    "assert summarize([{'name': 'a,b', 'score': 1}]) == {'a,b': 1}",
    "assert summarize([{'name': 'é', 'score': 7}]) == {'é': 7}",
    "assert summarize([{'name': 'a', 'score': -1}]) == {'a': -1}",
    "assert summarize([{'name': 'a', 'score': 10**6}]) == {'a': 1000000}",
    "assert len(summarize([{'name': str(i), 'score': i} for i in range(5)])) == 5",
    "assert summarize([{'name': 'x', 'score': 1}, {'name': 'y', 'score': 2}]) == {'x': 1, 'y': 2}",
    "assert summarize([{'name': '', 'score': 0}]) == {'': 0}",
    "assert summarize([{'name': 'tab\\there', 'score': 1}]) == {'tab\\there': 1}",
    "assert summarize([{'name': 'new\\nline', 'score': 1}]) == {'new\\nline': 1}",
    "assert isinstance(summarize([]), dict)",
    "assert summarize([{'name': 'a', 'score': 0.5}]) == {'a': 0.5}",
    "assert summarize([{'name': 'z', 'score': 1}] * 3) == {'z': 3}",
]

ZERO_DROPS = dict.fromkeys(DROP_REASONS, 0)


def reply_text(question: object = QUESTION, tests: object = ORIGINAL_TESTS, indent: int | None = None) -> str:
    return json.dumps({"question": question, "tests": tests}, indent=indent, ensure_ascii=False)


def test_original_tests_are_valid_and_distinct():
    kept, dropped = filter_tests(ORIGINAL_TESTS)
    assert kept == ORIGINAL_TESTS
    assert dropped == ZERO_DROPS


# ------------------------------------------------------------------------------------------------- clean replies


def test_valid_reply_round_trip():
    parsed = parse_reply(reply_text())
    assert parsed.ok
    assert parsed.error is None
    assert parsed.question == QUESTION
    assert parsed.tests == ORIGINAL_TESTS
    assert parsed.candidates == 20
    assert not parsed.repaired
    assert parsed.dropped == ZERO_DROPS


def test_pretty_printed_reply():
    parsed = parse_reply(reply_text(indent=2))
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS and not parsed.repaired


@PROPERTY
@given(
    question=st.text(min_size=1).filter(str.strip),
    values=st.lists(st.integers(), max_size=20),
)
def test_round_trip_property(question, values):
    tests = [f"assert f({value}) == {value * 2}" for value in values]
    parsed = parse_reply(reply_text(question, tests))
    assert parsed.question == question.strip()
    assert parsed.tests == list(dict.fromkeys(tests))
    assert parsed.candidates == len(tests)
    assert not parsed.repaired
    assert parsed.dropped["duplicate"] == len(tests) - len(set(tests))
    assert parsed.error == (None if tests else "no_tests")


# ---------------------------------------------------------------------------------------------------- truncation


@pytest.mark.parametrize(
    "full",
    [reply_text(), reply_text(indent=2), "```json\n" + reply_text(indent=2) + "\n```"],
    ids=["compact", "pretty", "fenced"],
)
def test_truncated_at_every_position(full):
    originals = set(ORIGINAL_TESTS)
    previous = 0
    for cut in range(len(full) + 1):
        parsed = parse_reply(full[:cut])
        assert isinstance(parsed, ParsedReply)
        # Never a partial test: every kept test is a whole original, and they are the originals' prefix in order.
        assert all(test in originals for test in parsed.tests), cut
        assert parsed.tests == ORIGINAL_TESTS[: len(parsed.tests)], cut
        assert len(parsed.tests) >= previous, cut
        previous = len(parsed.tests)
        if parsed.tests:
            assert parsed.question == QUESTION
            assert parsed.ok
    assert previous == len(ORIGINAL_TESTS)


def test_truncated_reply_keeps_complete_tests_and_says_repaired():
    full = reply_text()
    cut = full.index(ORIGINAL_TESTS[5].replace("\\", "\\\\")) + 10  # in the middle of the sixth test
    parsed = parse_reply(full[:cut])
    assert parsed.ok
    assert parsed.repaired
    assert parsed.tests == ORIGINAL_TESTS[:5]
    assert parsed.candidates == 5


def test_question_cut_in_the_middle_is_no_question():
    full = reply_text()
    parsed = parse_reply(full[: full.index("groups")])
    assert parsed.error == "no_question"
    assert parsed.question is None
    assert not parsed.ok


def test_truncated_right_after_the_tests_key_is_no_tests():
    full = reply_text()
    parsed = parse_reply(full[: full.index('"tests": [') + len('"tests": [')])
    assert parsed.question == QUESTION
    assert parsed.error == "no_tests"


@PROPERTY
@given(values=st.lists(st.integers(), min_size=1, max_size=20, unique=True), data=st.data())
def test_truncation_property(values, data):
    tests = [f"assert g({value!r}, 'x,]}}\\'') == [{value}]" for value in values]
    full = reply_text("q", tests)
    cut = data.draw(st.integers(min_value=0, max_value=len(full)))
    parsed = parse_reply(full[:cut])
    assert parsed.tests == tests[: len(parsed.tests)]


# ------------------------------------------------------------------------------------------- fences and chatter


def test_json_fence():
    parsed = parse_reply("```json\n" + reply_text() + "\n```")
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS and not parsed.repaired


def test_plain_fence_with_chatter_around():
    parsed = parse_reply("Here you go:\n```\n" + reply_text(indent=2) + "\n```\nLet me know if you need more!")
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS


def test_unclosed_fence():
    parsed = parse_reply("```json\n" + reply_text(indent=2))
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS


def test_unclosed_fence_truncated_mid_test():
    full = "```json\n" + reply_text(indent=2)
    parsed = parse_reply(full[: full.index("isinstance")])
    assert parsed.ok and parsed.repaired
    assert parsed.tests == ORIGINAL_TESTS[:17]


def test_chatty_preamble_with_braces():
    parsed = parse_reply("Sure! {here} is it: " + reply_text())
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS and not parsed.repaired


def test_preamble_with_an_unrelated_json_object():
    parsed = parse_reply('The format is {"a": 1}. Answer:\n' + reply_text() + "\nHope this helps {really}.")
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS


def test_trailing_chatter():
    parsed = parse_reply(reply_text() + "\n\nThese tests cover edge cases like {} and [].")
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS and not parsed.repaired


def test_truncated_reply_after_chatter_with_braces():
    full = "Sure! {here} is it: " + reply_text()
    parsed = parse_reply(full[: full.index("isinstance")])
    assert parsed.ok and parsed.tests == ORIGINAL_TESTS[:17]


# ------------------------------------------------------------------------------------------------------- repairs


def test_invalid_escape_single_quote():
    text = '{"question": "What\\\'s the sum?", "tests": ["assert f(\\\'a\\\') == 1", "assert g(\\"b\\") == 2"]}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    parsed = parse_reply(text)
    assert parsed.ok and parsed.repaired
    assert parsed.question == "What's the sum?"
    assert parsed.tests == ["assert f('a') == 1", 'assert g("b") == 2']


def test_other_invalid_escapes_keep_their_backslash():
    text = "{\"question\": \"Match digits\", \"tests\": [\"assert re.findall(r'\\d+', 'a1b22') == ['1', '22']\"]}"
    parsed = parse_reply(text)
    assert parsed.ok and parsed.repaired
    assert parsed.tests == ["assert re.findall(r'\\d+', 'a1b22') == ['1', '22']"]


def test_single_quoted_python_dict():
    text = "{'question': 'Add two numbers.', 'tests': ['assert add(1, 2) == 3', \"assert add('a', 'b') == 'ab'\"]}"
    parsed = parse_reply(text)
    assert parsed.ok and parsed.repaired
    assert parsed.question == "Add two numbers."
    assert parsed.tests == ["assert add(1, 2) == 3", "assert add('a', 'b') == 'ab'"]


def test_truncated_python_dict():
    text = "{'question': 'Add.', 'tests': ['assert add(1, 2) == 3', 'assert add(2, 2) == 4', 'assert add(3,"
    parsed = parse_reply(text)
    assert parsed.ok and parsed.repaired
    assert parsed.tests == ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]


# -------------------------------------------------------------------------------------------------------- errors


def test_question_missing():
    parsed = parse_reply('{"tests": ["assert f(1) == 1"]}')
    assert parsed.error == "no_question"
    assert parsed.tests == ["assert f(1) == 1"]


@pytest.mark.parametrize("question", ["", "   ", 3, None, ["q"]])
def test_question_not_a_nonempty_string(question):
    assert parse_reply(reply_text(question)).error == "no_question"


@pytest.mark.parametrize("text", ["", "no json here", "[1, 2, 3]", '{"answer": 42}', "{{{{", "}{"])
def test_no_json(text):
    parsed = parse_reply(text)
    assert parsed.error == "no_json"
    assert parsed.question is None and parsed.tests == [] and parsed.candidates == 0


def test_zero_surviving_tests_is_no_tests():
    parsed = parse_reply(reply_text("q", ["print(1)", "assert (", "assert open('f').read()"]))
    assert parsed.error == "no_tests"
    assert parsed.question == "q"
    assert parsed.candidates == 3
    assert parsed.dropped == {**ZERO_DROPS, "not_assert": 1, "syntax": 1, "unsafe": 1}


@pytest.mark.parametrize("tests", [None, "assert f(1) == 1", {"a": "assert f(1) == 1"}, []])
def test_tests_not_a_list_is_no_tests(tests):
    parsed = parse_reply(reply_text("q", tests))
    assert parsed.error == "no_tests"
    assert parsed.candidates == 0


@PROPERTY
@given(text=st.text())
def test_garbage_never_raises(text):
    parsed = parse_reply(text)
    assert isinstance(parsed, ParsedReply)
    assert parsed.error is not None or parsed.question is not None
    assert parsed.ok == (parsed.error is None)
    if parsed.ok:
        assert parsed.tests


@PROPERTY
@given(text=st.text(alphabet="{}[]\"'\\:,ab \n`"))
def test_json_like_garbage_never_raises(text):
    parsed = parse_reply(text)
    assert parsed.error in {None, "no_json", "no_question", "no_tests"}
    assert sum(parsed.dropped.values()) + len(parsed.tests) == parsed.candidates


# ------------------------------------------------------------------------------------------------- filter_tests


def test_invalid_python_dropped_as_syntax():
    kept, dropped = filter_tests(["assert f(1) == 2", "assert f(1 ==", "assert", "assert f(1) == 2 +"])
    assert kept == ["assert f(1) == 2"]
    assert dropped["syntax"] == 3


def test_non_assert_statements_dropped():
    candidates = ["f(1) == 2", "x = f(1)", "assert f(1) == 2; assert f(2) == 4", "", "def t():\n    assert f(1)"]
    kept, dropped = filter_tests(candidates)
    assert kept == []
    assert dropped["not_assert"] == 5


def test_non_strings_dropped():
    kept, dropped = filter_tests([1, None, ["assert x"], "assert x"])
    assert kept == ["assert x"]
    assert dropped["not_a_string"] == 3


def test_duplicates_with_whitespace_differences():
    candidates = ["assert f(1)==2", "assert f( 1 ) == 2", " assert f(1) == 2\n", "assert f(2) == 4", "assert (f(1)==2)"]
    kept, dropped = filter_tests(candidates)
    assert kept == ["assert f(1)==2", "assert f(2) == 4"]
    assert dropped["duplicate"] == 3


def test_stray_fences_and_whitespace_are_stripped():
    kept, _ = filter_tests(["```python\nassert f(1) == 2\n```", "  assert f(2) == 4  ", "```assert f(3) == 6```"])
    assert kept == ["assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 6"]


@pytest.mark.parametrize(
    "test",
    [
        "assert open('data.txt').read() == 'x'",
        "assert os.system('ls') == 0",
        "assert random.randint(1, 6) in range(1, 7)",
        "assert time.time() > 0",
        "assert __import__('os').getcwd()",
        "assert eval('1 + 1') == 2",
        "assert exec('x = 1') is None",
        "assert subprocess.run(['ls']).returncode == 0",
        "assert datetime.datetime.now().year > 2000",
        "assert date.today() is not None",
        "assert Path('x').exists() is False",
        "assert sys.maxsize > 0",
        "assert socket.gethostname()",
        "assert np.random.rand() < 1",
        "assert f(lambda: open('x')) == 1",
        "assert ().__class__.__base__.__subclasses__()",
        "assert uuid.uuid4() != uuid.uuid4()",
        "assert __builtins__.open",
        "assert f(input()) == 1",
    ],
)
def test_unsafe_tests_dropped(test):
    kept, dropped = filter_tests([test])
    assert kept == []
    assert dropped == {**ZERO_DROPS, "unsafe": 1}


@pytest.mark.parametrize(
    "test",
    [
        "assert f('open') == 'nepo'",
        "assert f(time_limit=3) == 3",
        "assert reader.opened is True",
        "assert f(datetime.date(2020, 1, 1)) == 3",
        "assert re.match(r'\\d+', '12')",
        "assert math.isclose(f(0.1), 0.2)",
    ],
)
def test_safe_tests_that_look_close_are_kept(test):
    kept, _ = filter_tests([test])
    assert kept == [test]


def test_invalid_escape_in_test_does_not_warn():
    # filterwarnings = error would turn a SyntaxWarning from ast.parse into a failure.
    kept, _ = filter_tests(["assert f('\\d') == 1"])
    assert kept == ["assert f('\\d') == 1"]


@PROPERTY
@given(candidates=st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=10))
def test_filter_tests_accounts_for_every_candidate(candidates):
    kept, dropped = filter_tests(candidates)
    assert set(dropped) == set(DROP_REASONS)
    assert len(kept) + sum(dropped.values()) == len(candidates)
    assert len(set(kept)) == len(kept)
    assert all(test.startswith("assert") for test in kept)


# ------------------------------------------------------------------------------------------------- linear time
# The parser before it was made linear, kept as the reference the linear one must agree with: every ``{`` decoded
# over the whole text, and a scan that copied its stack of open containers at every safe cut.


def reference_scan(text):
    stack, quote, escaped, expecting_key, string_is_key, safe_cut = [], None, False, False, False, None
    for index, char in enumerate(text):
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
                if not string_is_key:
                    safe_cut = (index + 1, tuple(stack))
            continue
        if char in "\"'":
            quote, string_is_key, expecting_key = char, expecting_key, False
        elif char in "{[":
            stack.append(char)
            expecting_key = char == "{"
            safe_cut = (index + 1, tuple(stack))
        elif char in "}]":
            if not stack or {"{": "}", "[": "]"}[stack.pop()] != char:
                return None, None
            if not stack:
                return index + 1, None
            expecting_key = False
            safe_cut = (index + 1, tuple(stack))
        elif char == ",":
            if stack:
                expecting_key = stack[-1] == "{"
                safe_cut = (index, tuple(stack))
        elif char == ":":
            expecting_key = False
    if safe_cut is None:
        return None, None
    cut, open_containers = safe_cut
    closers = "".join({"{": "}", "[": "]"}[opener] for opener in reversed(open_containers))
    return None, text[:cut].rstrip().removesuffix(",") + closers


def reference_find_object(text, monkeypatch):
    from acecoder.synth import parsing

    monkeypatch.setattr(parsing, "_scan", reference_scan)
    try:
        for region in parsing._search_regions(text):
            for start in parsing._brace_positions(region):
                try:
                    value, _ = parsing._DECODER.raw_decode(region, start)
                except (ValueError, RecursionError):
                    continue
                if parsing._has_payload_keys(value):
                    return value, False
        for region in parsing._search_regions(text):
            for start in list(parsing._brace_positions(region))[:64]:
                payload = parsing._decode_repaired(region[start:])
                if payload is not None:
                    return payload, True
        return None
    finally:
        monkeypatch.undo()


JSON_LIKE = st.text(alphabet="{}[]\"'\\:,ab \nquestiontq`", max_size=60)


@PROPERTY
@given(text=st.one_of(JSON_LIKE, st.builds(lambda a, b: a + reply_text()[: len(b) * 13] + b, JSON_LIKE, JSON_LIKE)))
def test_linear_parser_agrees_with_the_reference(text):
    from acecoder.synth import parsing

    assert parsing._scan(text) == reference_scan(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert parsing._find_object(text) == reference_find_object(text, monkeypatch)


def test_truncations_of_a_real_reply_agree_with_the_reference(monkeypatch):
    from acecoder.synth import parsing

    text = "Sure:\n```json\n" + reply_text(indent=2) + "\n```"
    for end in range(0, len(text), 7):
        assert parsing._find_object(text[:end]) == reference_find_object(text[:end], monkeypatch)


@pytest.mark.parametrize(
    "text",
    ["{" * 1_000_000, '{"a":' * 200_000, '{"{' * 300_000, '{"question": "q", "tests": [' + "[" * 500_000],
    ids=["braces", "nested keys", "open strings", "deep list"],
)
def test_a_megabyte_built_to_be_slow_parses(text):
    # Quadratic parsing took hours here (the per-test timeout ends it); linear parsing takes seconds.
    parsed = parse_reply(text)
    assert parsed.error in {"no_json", "no_question", "no_tests"}
