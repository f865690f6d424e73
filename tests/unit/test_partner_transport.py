"""Partner HTTP against hostile partners over real loopback HTTP: redirects, huge, slow, garbled and mislabelled
replies, refused connections and bad certificates all end as PartnerUnavailable, naming no key; queries are written
byte for byte as requests wrote them."""
from __future__ import annotations

import datetime
import gzip
import ipaddress
import ssl
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3 import HTTPHeaderDict

from chalicelib.providers.base import PartnerUnavailable
from chalicelib.providers.sms_activate import SmsActivatePartner
from chalicelib.providers.tls import tls_context
from chalicelib.providers.transport import HttpPolicy, PartnerReply, with_query
from infra.local.stack import free_port
from tests.canned_http import Asked, Canned, canned_partner

KEY = "secret-key-4242"
FAST = HttpPolicy(connect_timeout_seconds=1.0, read_timeout_seconds=0.3, read_retries=2, retry_backoff_seconds=0)


def partner_at(url: str, policy: HttpPolicy = FAST) -> SmsActivatePartner:
    return SmsActivatePartner("p", url, KEY, policy=policy)


def told(exc: BaseException) -> str:
    """Everything a log line with the traceback would show."""
    return "".join(traceback.format_exception(exc))


def always(canned: Canned) -> Callable[[Asked], Canned]:
    return lambda asked: canned


def test_get_balance__a_redirect_is_not_followed_and_the_key_goes_nowhere_else():
    # Given a partner that answers every call with a redirect to another host
    with canned_partner(always(Canned(b"ACCESS_BALANCE:9.99"))) as elsewhere:
        moved = Canned(b"", 302, (("Location", f"{elsewhere.url}/stubs/handler_api.php?api_key=x"),))
        with canned_partner(always(moved)) as partner:
            # When its balance is read
            with pytest.raises(PartnerUnavailable, match="HTTP 302") as raised:
                partner_at(partner.url).get_balance_minor()
    # Then the partner is unavailable (the read was retried, at the same partner), and the other host never called
    assert len(partner.asked) == 3 and elsewhere.asked == []
    assert KEY not in told(raised.value)


def test_get_balance__a_reply_larger_than_the_limit_is_refused_and_the_next_call_works():
    # Given a partner whose first reply is 4 KiB of digits, then a normal one, and a limit of 1 KiB
    replies = iter([Canned(b"ACCESS_BALANCE:" + b"9" * 4096), Canned(b"ACCESS_BALANCE:1.50")])
    with canned_partner(lambda asked: next(replies)) as partner:
        adapter = partner_at(partner.url, HttpPolicy(read_retries=0, max_reply_bytes=1024))
        # When the balance is read twice
        with pytest.raises(PartnerUnavailable, match="larger than 1024 bytes"):
            adapter.get_balance_minor()
        # Then the huge reply was refused, and the connection it left half read did not spoil the next call
        assert adapter.get_balance_minor() == 150


def test_get_balance__a_small_gzip_that_inflates_past_the_limit_is_refused():
    # Given a partner answering 2 KiB of gzip that inflates to 2 MiB, and a limit of 64 KiB
    bomb = gzip.compress(b"0" * (2 * 1024 * 1024))
    assert len(bomb) < 4096
    with canned_partner(always(Canned(bomb, headers=(("Content-Encoding", "gzip"),)))) as partner:
        # When the balance is read
        with pytest.raises(PartnerUnavailable, match="larger than 65536 bytes"):
            partner_at(partner.url, HttpPolicy(read_retries=0, max_reply_bytes=64 * 1024)).get_balance_minor()


def test_get_number__a_reply_that_stalls_mid_body_times_out_and_a_buy_is_never_repeated():
    # Given a partner that sends half a reply and then says nothing for longer than the read timeout
    stalled = Canned(b"ACCESS_NUMBER:5:79001234567", stall_seconds=0.6)
    with canned_partner(always(stalled)) as partner:
        # When a number is bought
        with pytest.raises(PartnerUnavailable, match="ReadTimeoutError") as raised:
            partner_at(partner.url).get_number("tg", 0, None, None)
    # Then the adapter gave up at its timeout, asked once (a second buy could rent a second number), naming no key
    assert len(partner.asked) == 1
    assert KEY not in told(raised.value)


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage\x80\x81", b"<html><body>502 Bad Gateway</body></html>", b""])
def test_get_balance__garbage_is_unavailable_with_what_was_said(body):
    # Given a partner answering bytes the protocol does not allow
    with canned_partner(always(Canned(body))) as partner:
        # When its balance is read
        with pytest.raises(PartnerUnavailable, match="unexpected reply") as raised:
            partner_at(partner.url).get_balance_minor()
    # Then it is unavailable, after the read's retries
    assert len(partner.asked) == 3 and KEY not in told(raised.value)


@pytest.mark.parametrize("charset", ["no-such-charset", "base64", "idna", "undefined", "'utf-8'", ""])
def test_get_balance__a_charset_python_cannot_decode_with_is_read_as_utf8(charset):
    # Given a partner labelling a good reply with a charset that is bogus, not a text encoding, or unable to replace
    labelled = Canned(b"ACCESS_BALANCE:1.50", headers=(("Content-Type", f"text/plain; charset={charset}"),))
    with canned_partner(always(labelled)) as partner:
        # When its balance is read
        balance = partner_at(partner.url).get_balance_minor()
    # Then the reply is read as UTF-8 (no LookupError or UnicodeError reaches the order as a 500)
    assert balance == 150


@pytest.mark.parametrize(("content_type", "body", "text"), [
    ("text/plain; charset=windows-1251", "Ваш код 1234".encode("cp1251"), "Ваш код 1234"),
    ('text/plain; Charset="KOI8-R"', "код".encode("koi8_r"), "код"),
    ("text/plain", "Ваш код".encode(), "Ваш код"),  # no charset: UTF-8, not requests' Latin-1 guess for text/*
    ("text/plain", "код".encode("cp1251"), "\ufffd\ufffd\ufffd"),  # not UTF-8 and unlabelled: replaced, no error
    ("application/json; charset=utf-16", '{"a": 1}'.encode("utf-16"), '{"a": 1}'),
])
def test_reply_text__utf8_unless_the_partner_names_a_charset(content_type, body, text):
    assert PartnerReply(200, HTTPHeaderDict({"Content-Type": content_type}), body).text == text


def test_get_balance__a_refused_connection_is_unavailable_and_names_no_key():
    # Given a partner address where nothing listens
    adapter = partner_at(f"http://127.0.0.1:{free_port()}")
    # When its balance is read
    with pytest.raises(PartnerUnavailable, match="NewConnectionError") as raised:
        adapter.get_balance_minor()
    # Then the error and anything a log would print of it leave the key (sent in the query string) out
    assert KEY not in told(raised.value)


def test_get_balance__a_certificate_no_public_authority_signed_is_refused(tmp_path: Path):
    # Given a partner serving TLS with a self-signed certificate for its address
    with canned_partner(always(Canned(b"ACCESS_BALANCE:1.50")), tls=self_signed_tls(tmp_path)) as partner:
        # When its balance is read over https
        with pytest.raises(PartnerUnavailable, match="SSLError") as raised:
            partner_at(partner.url, HttpPolicy(read_retries=0)).get_balance_minor()
    # Then nothing was asked of it (the handshake failed before the request) and no key was told
    assert partner.asked == [] and KEY not in told(raised.value)
    # And the context partners share with users' webhooks still checks names and certificates after urllib3 used it
    assert tls_context().check_hostname and tls_context().verify_mode == ssl.CERT_REQUIRED


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_VALUE = st.one_of(_TEXT, st.integers(), st.none(), st.booleans(), st.lists(st.one_of(_TEXT, st.integers(), st.none()),
                                                                             max_size=3))


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(_TEXT, _VALUE, max_size=5), base=st.sampled_from(
    ["https://p.example/stubs/handler_api.php", "http://127.0.0.1:8080/v1/user/buy/activation/russia/any/telegram",
     "https://p.example/h.php?lang=en"]))
def test_with_query__writes_what_requests_wrote(params, base):
    # Partners compare queries byte for byte: spaces as '+', reserved characters escaped, lists repeated, None left out
    assert with_query(base, params) == requests.Request("GET", base, params=params).prepare().url


def test_send__parameters_arrive_as_requests_sent_them():
    # Given a partner that records what it is asked
    with canned_partner(always(Canned(b"ACCESS_NUMBER:5:79001234567"))) as partner:
        # When a number is bought with an operator, a price and phone prefixes to avoid
        partner_at(partner.url).get_number("tg", 0, "mts", 1234, ["7900", "7916"])
    # Then the request line is the one requests wrote (the key among the escaped parameters)
    (asked,) = partner.asked
    assert asked.target == (f"/stubs/handler_api.php?api_key={KEY}&action=getNumber&service=tg&country=0"
                            "&operator=mts&maxPrice=12.34&phoneException=7900%2C7916")
    assert asked.method == "GET" and asked.body == b""


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server context whose certificate names 127.0.0.1 and is signed by itself."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context
