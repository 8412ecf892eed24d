"""Conditions: Rasa predicate syntax (pypred) parsed by our own parser, evaluated safely."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from helpdesk.dialogue.conditions import (
    EMPTY,
    UNDEFINED,
    Condition,
    ConditionError,
    ConditionEvaluationError,
    parse_condition,
    render_template,
)


def check(source: str, slots: dict[str, Any] | None = None, context: dict[str, Any] | None = None) -> bool:
    return parse_condition(source).evaluate(slots or {}, context)


# ----------------------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("slots.n = 5", True),
        ("slots.n == 5", True),
        ("slots.n is 5", True),
        ("slots.n != 5", False),
        ("slots.n is not 5", False),
        ("slots.n is not 6", True),
        ("slots.n > 4", True),
        ("slots.n > 5", False),
        ("slots.n >= 5", True),
        ("slots.n < 6", True),
        ("slots.n < 5", False),
        ("slots.n <= 5", True),
        ("slots.n <= 4.99", False),
        ("slots.n > -1", True),
        ("slots.n > -10.5", True),
    ],
)
def test_comparison_operators(source: str, expected: bool) -> None:
    assert check(source, {"n": 5}) is expected


def test_numbers_compare_numerically() -> None:
    assert check("slots.n = 1", {"n": 1.0})
    assert check("slots.n = 1.0", {"n": 1})
    assert check("slots.n < 2.5", {"n": 2})


def test_bool_is_distinct_from_int() -> None:
    assert not check("slots.flag = 1", {"flag": True})
    assert not check("slots.n = true", {"n": 1})
    assert check("slots.flag = true", {"flag": True})
    assert check("slots.flag = false", {"flag": False})


def test_numbers_and_strings_do_not_mix() -> None:
    assert not check("slots.n = 5", {"n": "5"})
    assert not check('slots.n = "5"', {"n": 5})
    assert check('slots.n = "5"', {"n": "5"})


def test_no_magic_between_bool_slot_and_string() -> None:
    assert not check('slots.flag = "true"', {"flag": True})
    assert not check('slots.flag = "false"', {"flag": False})


def test_strings_are_case_sensitive() -> None:
    assert check('slots.s = "Yes"', {"s": "Yes"})
    assert not check('slots.s = "yes"', {"s": "Yes"})
    assert check("slots.s = 'Yes'", {"s": "Yes"})


def test_string_ordering() -> None:
    assert check('slots.s < "b"', {"s": "a"})
    assert not check('slots.s > "b"', {"s": "a"})


def test_ordering_with_missing_or_null_is_false() -> None:
    for op in (">", ">=", "<", "<="):
        assert not check(f"slots.n {op} 1", {})
        assert not check(f"slots.n {op} 1", {"n": None})
        assert not check(f"1 {op} slots.n", {"n": None})


def test_ordering_incompatible_types_is_false() -> None:
    assert not check('slots.n > "a"', {"n": 3})
    assert not check("slots.flag > 0", {"flag": True})
    assert not check("not (slots.n > 'a')", {"n": 3}), "an evaluation problem makes the whole predicate false"


def test_slot_compared_with_slot() -> None:
    assert check("slots.end < slots.start", {"start": 10, "end": 5})
    assert check("slots.a = slots.b", {"a": "x", "b": "x"})


# ----------------------------------------------------------------------------- boolean logic


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true and true", True),
        ("true and false", False),
        ("false or true", True),
        ("false or false", False),
        ("not false", True),
        ("not not true", True),
        ("true or false and false", True),  # and binds tighter than or
        ("(true or false) and false", False),
        ("false and true or true", True),
        ("false and (true or true)", False),
        ("not true or true", True),  # not binds tighter than or
        ("not (true or true)", False),
        ("not false and false", False),  # (not false) and false
        ("true and true and false", False),
        ("false or false or true", True),
    ],
)
def test_boolean_logic_and_precedence(source: str, expected: bool) -> None:
    assert check(source) is expected


def test_not_applies_to_a_whole_comparison() -> None:
    assert check("not slots.n = 5", {"n": 4})
    assert not check("not slots.n = 5", {"n": 5})


def test_and_short_circuits_before_an_evaluation_problem() -> None:
    assert not parse_condition("false and slots.n > 'a'").evaluate_strict({"n": 1})
    assert parse_condition("true or slots.n > 'a'").evaluate_strict({"n": 1})


# ----------------------------------------------------------------------------- truthiness


@pytest.mark.parametrize("value", [None, "", 0, 0.0, False, [], {}])
def test_falsy_values(value: Any) -> None:
    assert not check("slots.flag", {"flag": value})
    assert check("not slots.flag", {"flag": value})


@pytest.mark.parametrize("value", [True, "x", 1, -1, 0.5, ["a"], {"k": 1}])
def test_truthy_values(value: Any) -> None:
    assert check("slots.flag", {"flag": value})
    assert not check("not slots.flag", {"flag": value})


def test_missing_slot_is_falsy() -> None:
    assert not check("slots.flag", {})
    assert check("not slots.flag", {})


def test_literals_as_whole_condition() -> None:
    assert check("true") and check("TRUE") and check("True")
    assert not check("false") and not check("null") and not check("undefined") and not check("empty")
    assert check('"text"') and not check('""')
    assert check("1") and not check("0")


# ----------------------------------------------------------------------------- null / undefined / empty


def test_null_matches_none_and_missing() -> None:
    assert check("slots.x is null", {"x": None})
    assert check("slots.x is null", {})
    assert check("slots.x = null", {})
    assert not check("slots.x is null", {"x": ""})
    assert not check("slots.x is null", {"x": False})
    assert check("slots.x is not null", {"x": 0})
    assert not check("slots.x is not null", {})


def test_undefined_matches_only_missing_names() -> None:
    assert check("slots.x is undefined", {})
    assert check("undefined = slots.x", {})
    assert not check("slots.x is undefined", {"x": None})
    assert check("slots.x is not undefined", {"x": None})
    assert not check("slots.x = undefined", {"x": "a"})


def test_empty_matches_none_missing_and_empty_values() -> None:
    empty_values: list[Any] = [None, "", [], {}]
    for value in empty_values:
        assert check("slots.x = empty", {"x": value}), value
        assert not check("slots.x != empty", {"x": value}), value
    assert check("slots.x is empty", {})
    non_empty: list[Any] = ["a", [1], {"k": 1}, 0, False]
    for value in non_empty:
        assert not check("slots.x = empty", {"x": value}), value


def test_keywords_are_case_insensitive() -> None:
    assert check("slots.x IS NULL", {})
    assert check("slots.x is None", {"x": None})
    assert check("slots.x is NONE", {})
    assert check("slots.flag = True", {"flag": True})
    assert check("slots.flag = FALSE", {"flag": False})
    assert check("slots.x is Undefined AND NOT slots.y", {})
    assert check("slots.x = Empty Or false", {"x": ""})
    assert check('slots.s CONTAINS "a"', {"s": "cat"})
    assert check('slots.s Matches "^c"', {"s": "cat"})


# ----------------------------------------------------------------------------- contains / sets / matches


def test_contains_on_lists() -> None:
    slots = {"tags": ["billing", "urgent", 3]}
    assert check('slots.tags contains "urgent"', slots)
    assert not check('slots.tags contains "refund"', slots)
    assert check("slots.tags contains 3.0", slots)
    assert not check("not (slots.tags contains 3)", slots)


def test_contains_on_strings_is_substring() -> None:
    assert check('slots.email contains "@"', {"email": "a@b.c"})
    assert not check('slots.email contains "@"', {"email": "abc"})


def test_contains_on_missing_or_null_is_false() -> None:
    assert not check('slots.tags contains "a"', {})
    assert not check('slots.tags contains "a"', {"tags": None})


def test_contains_on_dict_checks_keys() -> None:
    assert check('context.data contains "k"', {}, {"data": {"k": 1}})


def test_set_literal_contains_value() -> None:
    assert check('{"gold" "silver"} contains slots.tier', {"tier": "gold"})
    assert check('{"gold", "silver"} contains slots.tier', {"tier": "silver"})
    assert not check('{"gold" "silver"} contains slots.tier', {"tier": "bronze"})
    assert check("{1 2 3} contains slots.n", {"n": 2})
    assert not check("{} contains slots.n", {"n": 2})


def test_contains_set_literal_means_all_members() -> None:
    slots = {"tags": ["a", "b", "c"]}
    assert check('slots.tags contains {"a" "c"}', slots)
    assert not check('slots.tags contains {"a" "z"}', slots)


def test_set_literal_equality_ignores_order() -> None:
    assert check('slots.tags = {"b", "a"}', {"tags": ["a", "b"]})
    assert not check('slots.tags = {"a"}', {"tags": ["a", "b"]})


def test_matches_uses_regex_search() -> None:
    assert check('slots.email matches "@"', {"email": "a@b.c"})
    assert check(r'slots.zip matches "^\d{5}$"', {"zip": "12345"})
    assert not check(r'slots.zip matches "^\d{5}$"', {"zip": "1234"})
    assert check("not (slots.email matches '@')", {"email": "nope"})


def test_matches_on_non_string_is_false_even_strict() -> None:
    condition = parse_condition('slots.zip matches "1"')
    assert condition.evaluate_strict({"zip": 12345}) is False
    assert condition.evaluate_strict({}) is False


def test_invalid_regex_is_a_parse_error() -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition('slots.x matches "(unclosed"')
    assert info.value.column == 16
    assert "regular expression" in info.value.message


def test_matches_needs_a_quoted_regex() -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition("slots.x matches abc")
    assert info.value.column == 16


def test_string_escapes() -> None:
    assert check(r'slots.s = "say \"hi\""', {"s": 'say "hi"'})
    assert check(r"slots.s = 'it\'s'", {"s": "it's"})
    assert check(r'slots.s = "a\\b"', {"s": "a\\b"})
    assert check('slots.s = "a and b or not c"', {"s": "a and b or not c"})


# ----------------------------------------------------------------------------- names and context


def test_nested_names_and_context() -> None:
    assert check("context.collect = 'email'", {}, {"collect": "email"})
    assert check("slots.user.address.city = 'Berlin'", {"user": {"address": {"city": "Berlin"}}})
    assert check("slots.user.address.zip is undefined", {"user": {"address": {}}})
    assert check("slots.user.name.first is undefined", {"user": {"name": "Ada"}})


def test_slot_names_may_contain_dashes() -> None:
    assert check("slots.order-id = 7", {"order-id": 7})
    assert parse_condition("slots.a-b > -1").references() == frozenset({"slots.a-b"})


def test_keywords_inside_dotted_names_are_names() -> None:
    condition = parse_condition("slots.not and slots.empty")
    assert condition.references() == frozenset({"slots.not", "slots.empty"})
    assert condition.evaluate({"not": True, "empty": True})


def test_references() -> None:
    condition = parse_condition("slots.age >= 18 and context.collect = 'x' or {slots.a 'b'} contains Yes")
    assert condition.references() == frozenset({"slots.age", "context.collect", "slots.a", "Yes"})
    assert parse_condition("true").references() == frozenset()


def test_bare_words() -> None:
    assert parse_condition("slots.b = Yes").bare_words() == ["Yes"]
    assert parse_condition('slots.b = "Yes"').bare_words() == []
    assert parse_condition("slots.b = true and slots.c is null").bare_words() == []
    assert parse_condition("Maybe or slots.x = Maybe or foo.bar or slots").bare_words() == ["Maybe", "foo.bar", "slots"]


def test_unquoted_word_never_matches_at_runtime() -> None:
    assert not check("slots.b = Yes", {"b": "Yes"})


# ----------------------------------------------------------------------------- parse_condition / Condition


def test_parse_condition_accepts_bools() -> None:
    assert parse_condition(True).evaluate({}) is True
    assert parse_condition(False).evaluate({}) is False


def test_parse_condition_is_cached() -> None:
    assert parse_condition("slots.x > 1") is parse_condition("slots.x > 1")


def test_condition_is_a_value() -> None:
    assert Condition("slots.a") == parse_condition("slots.a")
    assert hash(Condition("slots.a")) == hash(parse_condition("slots.a"))
    with pytest.raises(ConditionError):
        Condition("slots.a =")


@pytest.mark.parametrize("value", [5, None, ["slots.a"]])
def test_parse_condition_rejects_other_types(value: Any) -> None:
    with pytest.raises(ConditionError):
        parse_condition(value)


def test_multiline_source() -> None:
    assert check("slots.a = 1\n  and slots.b = 2", {"a": 1, "b": 2})


# ----------------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("(slots.a = 1", 0, "unclosed '('"),
        ("slots.a = (1 or (2)", 10, "unclosed '('"),
        ("slots.a = 1)", 11, "unbalanced ')'"),
        ("slots.a and", 11, "end of condition"),
        ("slots.a = ", 9, "end of condition"),
        ("not", 3, "end of condition"),
        ("slots.a or or slots.b", 11, "'or'"),
        ('slots.a = "abc', 10, "unterminated string"),
        ("slots.a = 'abc", 10, "unterminated string"),
        ("slots.a = 1 2", 12, "unexpected '2'"),
        ("slots.a slots.b", 8, "unexpected 'slots.b'"),
        ("slots.a & slots.b", 8, "unexpected character '&'"),
        ("slots.a = 1 = 2", 12, "unexpected '='"),
        ("slots. = 1", 6, "expected a name after '.'"),
        ("slots.a ! 1", 8, "unexpected character '!'"),
        ("()", 1, "')'"),
        ("(slots.a slots.b)", 9, "expected ')'"),
        ('{"a" "b" contains slots.x', 9, "expected a set item or '}'"),
        ('{"a" "b"', 0, "unclosed '{'"),
        ("{(1)} contains slots.x", 1, "set item"),
        ("slots.a = {{ context.x }}", 11, "set item"),
    ],
)
def test_syntax_errors_report_the_column(source: str, column: int, fragment: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(source)
    error = info.value
    assert error.column == column
    assert fragment in error.message
    assert error.source == source


def test_absurd_nesting_is_a_condition_error() -> None:
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("(" * 5000 + "true" + ")" * 5000)
    assert parse_condition("(" * 50 + "true" + ")" * 50).evaluate({})


def test_condition_error_message_has_caret_line() -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition("slots.a = 1 2")
    text = str(info.value)
    assert "column 12" in text
    lines = text.splitlines()
    assert lines[1].strip() == "slots.a = 1 2"
    assert lines[2].index("^") == lines[1].index("2")


def test_condition_error_is_a_value_error_and_pickles() -> None:
    error = ConditionError("boom", 3, "abc def")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.column, copy.source) == ("boom", 3, "abc def")


# ----------------------------------------------------------------------------- evaluate vs evaluate_strict


@pytest.mark.parametrize(
    ("source", "slots"),
    [
        ('slots.n > "a"', {"n": 1}),
        ("slots.flag < 1", {"flag": True}),
        ("slots.items >= 2", {"items": [1, 2]}),
        ("slots.n contains 1", {"n": 5}),
        ("slots.s contains 1", {"s": "abc"}),
    ],
)
def test_evaluation_problems(source: str, slots: dict[str, Any]) -> None:
    condition = parse_condition(source)
    assert condition.evaluate(slots) is False
    with pytest.raises(ConditionEvaluationError) as info:
        condition.evaluate_strict(slots)
    assert isinstance(info.value, ValueError)


def test_evaluate_never_raises_on_odd_inputs() -> None:
    class Exploding:
        def __bool__(self) -> bool:
            raise RuntimeError("boom")

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    condition = parse_condition("slots.x")
    assert condition.evaluate({"x": Exploding()}) is False
    assert parse_condition("slots.x = 1").evaluate({"x": Exploding()}) is False
    assert condition.evaluate(None) is False  # type: ignore[arg-type]
    with pytest.raises(ConditionEvaluationError):
        condition.evaluate_strict({"x": Exploding()})


def test_strict_missing_values_are_just_false() -> None:
    assert parse_condition("slots.n > 1").evaluate_strict({}) is False
    assert parse_condition("slots.n > 1").evaluate_strict({"n": None}) is False
    assert parse_condition("slots.n contains 'a'").evaluate_strict({}) is False


def test_sentinels() -> None:
    assert not UNDEFINED and not EMPTY
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED


# ----------------------------------------------------------------------------- render_template


def test_render_template_dotted_lookups() -> None:
    values = {"context": {"collect": "email", "x": {"y": 3}}, "slots": {"z": "Ada"}}
    assert render_template("slots.{{ context.collect }} is null", values) == "slots.email is null"
    assert render_template("{{context.x.y}} < 5", values) == "3 < 5"
    assert render_template('slots.a = "{{ slots.z }}"', values) == 'slots.a = "Ada"'


def test_render_template_missing_is_empty() -> None:
    assert render_template("a{{ context.nope }}b", {"context": {}}) == "ab"
    assert render_template("a{{ slots.x }}b", {}) == "ab"


def test_render_template_leaves_other_text_alone() -> None:
    assert render_template("slots.a > 1", {}) == "slots.a > 1"
    assert render_template("{{ context.a + 1 }}", {"context": {"a": 1}}) == "{{ context.a + 1 }}"


def test_rendered_condition_end_to_end() -> None:
    context = {"collect": "email"}
    source = render_template("slots.{{context.collect}} is null", {"context": context, "slots": {}})
    condition = parse_condition(source)
    assert condition.evaluate({}, context)
    assert not condition.evaluate({"email": "a@b.c"}, context)
    assert condition.references() == frozenset({"slots.email"})
