"""The history cursor codec (bound to one account and one history) and the CSV export's escaping."""
from __future__ import annotations

import base64
import csv
import io
import json

import pytest

from chalicelib.domain.csv_export import csv_cell, csv_text
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.history_cursor import decode_cursor, encode_cursor
from chalicelib.services.money.history import parse_day_or_time


@pytest.mark.parametrize("key", [1, 7_239_812_345_678_912, "1733370000000#0a1b2c3d"])
def test_cursor__round_trips_for_its_account_and_history(key):
    token = encode_cursor("acc_1", "ledger", key)
    assert decode_cursor(token, "acc_1", "ledger") == key
    assert token.isascii() and "=" not in token


def test_cursor__another_accounts_cursor_is_refused():
    # Given a cursor given to one account
    token = encode_cursor("acc_alice", "activations", 123)
    # When another account presents it, or presents it to another history
    for account, history in (("acc_mallory", "activations"), ("acc_alice", "ledger")):
        with pytest.raises(InvalidInput) as refused:
            decode_cursor(token, account, history)
        # Then it is refused as not a cursor of theirs
        assert refused.value.details == {"field": "cursor"}


def _forged(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize("token", [
    "", "not base64 !", "x" * 500, "٣٣٣", "\ud800", _forged(["ledger"]), _forged({"a": 1}),
    _forged(["ledger", encode_cursor("acc_1", "ledger", 1), 1]),
    _forged(["ledger", "0" * 16, True]), _forged(["ledger", "0" * 16, -1]), _forged(["ledger", "0" * 16, 2**64]),
    _forged(["ledger", "0" * 16, "a' OR 1=1"]), _forged(["ledger", "0" * 16, [1]]),
])
def test_cursor__garbage_is_refused_with_a_4xx_error(token):
    with pytest.raises(InvalidInput):
        decode_cursor(token, "acc_1", "ledger")


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("plain", "plain"), (None, ""), (-500, "-500"), (0, "0"),
])
def test_csv_cell__formula_starts_are_defused_and_numbers_stay_numbers(value, cell):
    assert csv_cell(value) == cell


def test_csv_text__quotes_commas_quotes_and_newlines_round_trip():
    # Given text with every character CSV must quote
    rows = [[1, 'a "quoted", comma', "two\nlines", "ünïcode ✓"]]
    # When written
    text = csv_text(["id", "memo", "note", "name"], rows)
    # Then a CSV reader reads back exactly the cells, under the header
    assert text.endswith("\r\n") and text.startswith("id,memo,note,name\r\n")
    assert list(csv.reader(io.StringIO(text))) == [["id", "memo", "note", "name"],
                                                   ["1", 'a "quoted", comma', "two\nlines", "ünïcode ✓"]]


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-12-05", 1_796_428_800.0), ("2026-12-05T01:00:00Z", 1_796_432_400.0),
    ("2026-12-05T03:00:00+02:00", 1_796_432_400.0),
])
def test_parse_day_or_time__days_are_utc_and_times_need_a_zone(raw, expected):
    assert parse_day_or_time(raw) == expected


@pytest.mark.parametrize("raw", ["2026-12-05T01:00:00", "yesterday", "２０２６-12-05", "2026-13-01", "9" * 100])
def test_parse_day_or_time__anything_else_is_refused(raw):
    with pytest.raises(ValueError):
        parse_day_or_time(raw)
