"""The strict reader every adapter uses: digits of other scripts, unpaired surrogates, NUL, huge numbers and deep
nesting are refusals with a message, never an exception from int(), an encoder or json.loads."""
from __future__ import annotations

import json

import pytest

from chalicelib.api import fields
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import is_identifier

NOT_ASCII_DIGITS = ["²", "٣", "１", "߁", "¹²", "1²", "+1", "-1", " 1", "1 ", "1_000", "0x1", "", "1.0", "१"]


@pytest.mark.parametrize("raw", NOT_ASCII_DIGITS)
def test_digits__only_ascii_digits_are_a_number(raw):
    assert fields.digits(raw) is None


def test_digits__bounded_length_without_parsing_a_huge_number():
    assert fields.digits("0042") == 42
    assert fields.digits(str(2**53 - 1)) == 2**53 - 1  # the largest activation id
    assert fields.digits("9" * 17) is None
    assert fields.digits("9" * 100_000) is None  # int() would refuse past 4300 digits with a ValueError


@pytest.mark.parametrize("raw", ["²", "٣", "1" * 40, "-1", "1.5"])
def test_query_integer__anything_but_bounded_ascii_digits_is_422_naming_the_field(raw):
    with pytest.raises(InvalidInput) as refused:
        fields.query_integer({"limit": raw}, "limit", minimum=1, maximum=200)
    assert refused.value.details == {"field": "limit"}


def test_query_integer__absent_or_empty_is_none_and_bounds_hold():
    assert fields.query_integer({}, "limit") is None
    assert fields.query_integer({"limit": ""}, "limit") is None
    assert fields.query_integer({"limit": "200"}, "limit", minimum=1, maximum=200) == 200
    with pytest.raises(InvalidInput):
        fields.query_integer({"limit": "201"}, "limit", minimum=1, maximum=200)


@pytest.mark.parametrize("value", ["\ud800", "pass\udfffword", "a\x00b"])
def test_text__unpaired_surrogates_and_nul_are_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as refused:
        fields.text({"password": value}, "password")
    assert refused.value.details == {"field": "password"} and "password" in refused.value.message


@pytest.mark.parametrize("value", ["😀 ok", "مرحبا\u200f", "e\u0301", "Ünïcödé", "٣٣"])
def test_text__real_unicode_passes(value):
    assert fields.text({"subject": value}, "subject") == value


def test_integer__a_json_number_beyond_what_we_store_is_refused():
    with pytest.raises(InvalidInput):
        fields.integer({"country": 10**40}, "country")
    assert fields.integer({"country": 187}, "country") == 187


@pytest.mark.parametrize("raw", ["", "a" * 129, "tkt_1/../x", "tkt\u00e9", "\ud800", "a b", "a\x00"])
def test_is_identifier__only_short_ascii_ids(raw):
    assert not is_identifier(raw)


def test_within_depth__counts_nesting_not_brackets_inside_strings():
    assert fields.within_depth(json.dumps({"a": "[[[[[[[[[[" * 20, "b": [[1]]}).encode(), limit=3)
    assert fields.within_depth(json.dumps({"a": '\\"[[[[' * 20}).encode(), limit=2)
    assert not fields.within_depth(b"[" * 4 + b"]" * 4, limit=3)


def test_json_object__nested_200k_deep_is_a_422_not_a_recursion_error():
    # Given a body nested 200,000 levels deep (json.loads alone raises RecursionError)
    raw = b'{"a":' * 200_000 + b"1" + b"}" * 200_000
    # When it is read as a request body (size limits aside: a webhook's own reader is not size-limited)
    with pytest.raises(InvalidInput) as refused:
        fields.json_object(raw[: fields.MAX_BODY_BYTES], "request body")
    # Then it is a malformed body with a message
    assert refused.value.code == "MALFORMED_JSON"
    assert not fields.within_depth(raw)
