"""The one number rule (``trial_site.form_numbers``): what each typed text is read as, or why it is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trial_site.form_numbers import NotANumber, NumberField, parse_number


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("6.2", Decimal("6.2")),
        ("6,2", Decimal("6.2")),
        ("৬.২", Decimal("6.2")),
        ("৬,২", Decimal("6.2")),
        (" 62 ", Decimal("62")),
        ("১২৩৪", Decimal("1234")),
        ("1.234", Decimal("1.234")),
        ("0,125", Decimal("0.125")),
        ("12,3456", Decimal("12.3456")),
        ("12,34", Decimal("12.34")),
        ("-1,5", Decimal("-1.5")),
        ("\u22122.5", Decimal("-2.5")),
        ("+3", Decimal("3")),
        (".5", Decimal("0.5")),
        (",5", Decimal("0.5")),
        ("7.", Decimal("7")),
        ("0", Decimal("0")),
    ],
)
def test_a_number_is_read_as_the_number_it_means(typed: str, meant: Decimal) -> None:
    assert parse_number(typed) == meant


@pytest.mark.parametrize("typed", ["", "   "])
def test_an_empty_text_is_no_number(typed: str) -> None:
    assert parse_number(typed) is None


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("1,234", "ambiguous_comma"),
        ("৬,২০০", "ambiguous_comma"),
        ("-1,234", "ambiguous_comma"),
        ("1.234,5", "two_separators"),
        ("1,234.5", "two_separators"),
        ("12,34,567", "two_separators"),
        ("1.2.3", "two_separators"),
        ("abc", "invalid"),
        ("-", "invalid"),
        (".", "invalid"),
        (",", "invalid"),
        ("6 2", "invalid"),
        ("1e3", "invalid"),
        ("inf", "invalid"),
        ("nan", "invalid"),
        ("6,2 mg", "invalid"),
        ("--2", "invalid"),
        ("1" * 16, "too_large"),
        ("9" * 400, "too_large"),
        ("1" * 16 + ",5", "too_large"),
    ],
)
def test_a_text_that_is_not_one_number_is_refused_with_the_reason(typed: str, why: str) -> None:
    with pytest.raises(NotANumber) as refused:
        parse_number(typed)
    assert refused.value.code == why


def test_the_largest_accepted_value_is_still_exact() -> None:
    assert parse_number("9" * 15) == Decimal("999999999999999")


def test_the_field_gives_the_kind_it_is_asked_for_and_refuses_decimals_in_a_whole_number() -> None:
    assert NumberField(kind=float).clean("6,2") == 6.2
    assert NumberField(kind=Decimal).clean("৬,২") == Decimal("6.2")
    assert NumberField(kind=int).clean("১২") == 12
    assert NumberField(kind=int).clean("12.0") == 12
    with pytest.raises(Exception, match="whole number"):
        NumberField(kind=int).clean("6,2")
    with pytest.raises(Exception, match="write the decimal point as a point"):
        NumberField(kind=float).clean("1,234")
    assert NumberField(kind=float, required=False).clean("") is None


def test_the_field_renders_a_text_box_for_the_numeric_keyboard_never_the_browsers_number_input() -> None:
    html = NumberField(kind=float).widget.render("wbc", 6.2)
    assert 'type="text"' in html
    assert 'inputmode="decimal"' in html
    assert 'value="6.2"' in html
