"""The one table of partners' words for our codes and ids, and the checks a partner's service code and name pass."""
from __future__ import annotations

from chalicelib.domain.catalog_data import countries
from chalicelib.domain.partner_codes import (
    MAX_SERVICE_NAME_LENGTH,
    PRODUCTS,
    clean_service_code,
    clean_service_name,
    country_for_word,
    country_word,
    product_word,
    service_for_product,
)
from chalicelib.providers import fivesim, smshub_agent


def test_country_words__every_country_has_one_word_and_it_leads_back():
    # Given every country we list
    words = {c.id: country_word(c.id) for c in countries()}
    # Then no two share a word, each word leads back to its id, and the words partners use are the known ones
    assert len(set(words.values())) == len(words)
    assert all(country_for_word(word) == country for country, word in words.items())
    assert (words[0], words[16], words[187], words[12]) == ("russia", "england", "usa", "usavirtual")
    assert country_for_word(" England ") == 16 and country_for_word("narnia") is None


def test_country_words__the_adapters_read_the_same_table():
    # Then 5sim and SMSHub agents are asked in the words our 5sim routes answer with
    table = {c.id: country_word(c.id) for c in countries()}
    assert fivesim.DEFAULT_COUNTRIES == smshub_agent.DEFAULT_COUNTRIES == table
    assert fivesim.DEFAULT_PRODUCTS == PRODUCTS


def test_products__known_codes_take_5sims_word_and_unknown_words_become_codes():
    assert (product_word("tg"), service_for_product("Telegram")) == ("telegram", "tg")
    # A product our table lacks is its own code, and back; a word that cannot be a code is none
    assert (product_word("zava"), service_for_product("zava")) == ("zava", "zava")
    assert service_for_product("no such/product") is None
    assert len(set(PRODUCTS.values())) == len(PRODUCTS)


def test_clean_service_code__lower_case_letters_digits_and_underscore_only():
    assert [clean_service_code(c) for c in ("tg", " ZV ", "a_1", "x" * 33, "t g", "tg\u0663", "", None, 7)] == [
        "tg", "zv", "a_1", None, None, None, None, None, None]


def test_clean_service_name__stays_text_and_loses_what_cannot_be_read():
    # Markup stays text (whoever shows it escapes it); bidi overrides, zero-width and control characters,
    # lone surrogates and line separators go; blanks collapse; decomposed letters are composed
    assert clean_service_name('<img src=x onerror="a()">Quiz\u202e Club') == '<img src=x onerror="a()">Quiz Club'
    assert clean_service_name("Ze\u200bta\x00 \n\u2028 Rides\ud800") == "Zeta Rides"
    assert clean_service_name("Cafe\u0301") == "Caf\u00e9"
    # Nothing readable, or not text, is no name
    assert [clean_service_name(v) for v in ("\u202e\u200b", "   ", None, 12)] == [None, None, None, None]


def test_clean_service_name__a_long_name_is_cut_with_an_ellipsis():
    cut = clean_service_name("Long name " * 20)
    assert cut is not None and len(cut) == MAX_SERVICE_NAME_LENGTH and cut.endswith("…")
