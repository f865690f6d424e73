"""Code extraction from real-looking SMS texts: per service, in several languages, and the traps around them."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.sms_code import extract_code

SERVICE_SMS = [
    ("tg", "Telegram code: 12345\n\nYou can also tap on this link to log in:\nhttps://t.me/login/12345\n\nhAIKUbDmU9v",
     "12345"),
    ("tg", "Telegram code 54321", "54321"),
    ("tg", "Код подтверждения Telegram: 74120. Не давайте его никому, даже если его требуют от имени Telegram!",
     "74120"),
    ("tg", "Login code: 90211. Do not give this code to anyone, even if they say they are from Telegram!", "90211"),
    ("wa", "Your WhatsApp code: 123-456\nYou can also tap on this link to verify your phone: v.whatsapp.com/123456\n"
           "Don't share this code with others", "123456"),
    ("wa", "<#> Ваш код WhatsApp: 482-193\n\nНе сообщайте этот код другим\n4sgLq1p5sV6", "482193"),
    ("wa", "WhatsApp code 771 203. Don't share this code with others", "771203"),
    ("go", "G-318274 is your Google verification code.", "318274"),
    ("go", "G-904211 — ваш код подтверждения Google.", "904211"),
    ("go", "Your Google verification code is 581920", "581920"),
    ("fb", "FB-48291 is your Facebook confirmation code", "48291"),
    ("fb", "48291 is your Facebook code Laz+nxCarLW", "48291"),
    ("ig", "123 456 is your Instagram code. Don't share it.", "123456"),
    ("ig", "Use 654321 to verify your Instagram account.", "654321"),
    ("mm", "Use 4721 as Microsoft account security code", "4721"),
    ("mm", "Microsoft account security code: 9931", "9931"),
    ("ds", "Your Discord verification code is: 839201", "839201"),
    ("tw", "Your Twitter confirmation code is 417294.", "417294"),
    ("tw", "417294 is your X verification code.", "417294"),
    ("vk", "VK: 123456 — код для регистрации. Никому его не сообщайте.", "123456"),
    ("am", "123456 is your Amazon OTP. Do not share it with anyone.", "123456"),
    ("ub", "Your Uber code: 1234. Never share this code. Reply STOP ALL to 81017 to unsubscribe.", "1234"),
    ("lf", "[TikTok] 381920 is your verification code, valid for 5 minutes. To keep your account safe, never forward "
           "this code.", "381920"),
    ("wb", "【微信】验证码：482910，10分钟内有效，请勿泄露给他人。", "482910"),
    ("wx", "Your Apple ID Code is: 681294. Don't share it with anyone.\n\n@apple.com #681294 %apple.com", "681294"),
    ("dr", "Your OpenAI verification code is: 429102", "429102"),
    ("nf", "Netflix: Your verification code is 739201. Don't share this code with anyone.", "739201"),
    ("ts", "PayPal: Your security code is: 284910. Your code expires in 10 minutes. Please don't reply to this "
           "message.", "284910"),
    ("oi", "Your Tinder code is 482019 . Don't share", "482019"),
    ("kt", "[Web발신]\n[카카오톡] 인증번호 [4821]를 입력해주세요.", "4821"),
    ("ka", "Kode verifikasi Shopee Anda adalah 482019. JANGAN BERIKAN kode ini ke siapa pun", "482019"),
    ("ot", "Seu código do Nubank é 837261", "837261"),
    ("ot", "Mã xác thực Zalo của bạn là 4821", "4821"),
    ("ot", "Twój kod weryfikacyjny to 552910", "552910"),
    ("ot", "Doğrulama kodunuz: 772901", "772901"),
]


@pytest.mark.parametrize(("service", "text", "code"), SERVICE_SMS, ids=[f"{s}-{i}" for i, (s, *_) in
                                                                        enumerate(SERVICE_SMS)])
def test_extract_code__real_service_sms(service: str, text: str, code: str) -> None:
    # Given an SMS as the service sends it
    # When the code is extracted for an activation of that service
    # Then the user sees exactly the code, separators removed
    assert extract_code(text, service) == code


@pytest.mark.parametrize(("service", "text", "code"), SERVICE_SMS[:12], ids=[f"{s}-{i}" for i, (s, *_) in
                                                                             enumerate(SERVICE_SMS[:12])])
def test_extract_code__service_unknown_or_mislabelled__still_found(service: str, text: str, code: str) -> None:
    # Given an SMS that a partner labelled "any other"
    # When the code is extracted without knowing the service
    # Then the brand formats still find it
    assert extract_code(text) == code
    assert extract_code(text, "ot") == code


@pytest.mark.parametrize(("text", "code"), [
    ("Your code is 5521. Questions? Call +1 (800) 555-0199.", "5521"),
    ("Call +7 912 345-67-89, your code 2231", "2231"),
    ("Code 8812. Support: 8 800 555 35 35", "8812"),
    ("© 2024 Example Inc. Your PIN: 3391", "3391"),
    ("Login at 12:45 on 2024-05-01 from Chrome. Code: 771902", "771902"),
    ("You paid $1500 at SHOP. Code 4412", "4412"),
    ("Order #55123 confirmed. Your pickup code is 8841.", "8841"),
    ("Your code is 123456. Reference 987654", "123456"),
    ("Discount 20% on 1500 items! Your code 6621", "6621"),
    ("Your balance is 1,500.25 USD. OTP 9921", "9921"),
    ("Use 4721 as Microsoft account security code. Ref: 20231", "4721"),
    ("Your code is 2024", "2024"),
    ("Sign-in 2023 archive. Your code: 7312", "7312"),
    ("Your verification code: 5521\n\nhttps://example.com/verify?token=884421", "5521"),
    ("Contact support123456@example.com. Code 6612", "6612"),
], ids=lambda v: v[:30] if isinstance(v, str) else None)
def test_extract_code__ignores_numbers_that_are_not_the_code(text: str, code: str) -> None:
    # Given an SMS with phone numbers, dates, times, amounts, links or references next to the code
    # When the code is extracted
    # Then the number tied to the code wins
    assert extract_code(text) == code


@pytest.mark.parametrize("text", [
    "",
    "Hello there",
    "Welcome to Example! © 2024 Example Inc.",
    "Your order of 2024-05-01 has shipped",
    "Your account number is 1234567890123",
    "Your Steam verification code is: V8K2M",
    "Your code is AB12CD",
    "Meet at 12:45, room 12",
    "Call +44 20 7946 0958 now",
], ids=lambda v: v[:30] or "empty")
def test_extract_code__no_convincing_code__none(text: str) -> None:
    # Given an SMS with no 4–8 digit code (or only an alphanumeric one)
    # When the code is extracted
    # Then there is none, rather than a fragment or a wrong number
    assert extract_code(text) is None


@pytest.mark.parametrize(("text", "code"), [
    ("رمز التحقق الخاص بك هو ٤٥٦٧٨٩", "456789"),
    ("验证码：１２３４５６", "123456"),
])
def test_extract_code__non_ascii_digits__returned_as_ascii(text: str, code: str) -> None:
    # Given an SMS written with Arabic-Indic or full-width digits
    # When the code is extracted
    # Then a bot receives plain ASCII digits it can type
    assert extract_code(text) == code


def test_extract_code__domain_bound_line__wins_over_other_numbers() -> None:
    # Given an SMS whose last line binds the code to a domain (WebOTP)
    text = "Order 554433 ready. Your Example code: 112233\n\n@example.com #778899"
    # When the code is extracted
    # Then the domain-bound code is the one returned
    assert extract_code(text) == "778899"


@given(code=st.from_regex(r"[1-9][0-9]{3,7}", fullmatch=True),
       template=st.sampled_from([
           "Your verification code is {code}.",
           "{code} is your login code. Don't share it.",
           "Ваш код подтверждения: {code}. Никому его не сообщайте.",
           "验证码{code}，5分钟内有效。",
           "Code: {code}\nValid for 10 minutes. Support: +1 555 010 9999",
       ]))
def test_extract_code__any_code_in_common_templates(code: str, template: str) -> None:
    # Given any 4–8 digit code in a common template
    # When the code is extracted
    # Then it is found exactly
    assert extract_code(template.format(code=code)) == code
