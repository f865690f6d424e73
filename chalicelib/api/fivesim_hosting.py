"""5sim's hosting (a number rented for hours to a month, every SMS listed on the order) over our rentals.

5sim sells hosting as products named by duration (`/user/buy/hosting/{country}/{operator}/{product}`), for any
service; the order then answers `check`, `finish`, `cancel` and `sms/inbox` like an activation, by its id. Ours:
| product | ours | why |
|---|---|---|
| 3hours | 4 hours, priced as 4 | our shortest rental is SMS-Activate's 4 hours; never less than bought |
| 1day, 10days | 24, 240 hours | — |
| 1month | 400 `no product` | our longest rental is four weeks |
A hosting order's `product` is the word it was bought as when its hours match one (else `<n>hours`), its status
RECEIVED while it runs, FINISHED once ended or expired, CANCELED once canceled (refunded) or never issued. `ban` on
it is 400 `hosting order` (fivesim's HOSTING_ORDER), as is a cancel our rules refuse (after 20 minutes or an SMS).
The country `any` is 400 `select country`: rent prices are asked of the partners per country.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib import wiring
from chalicelib.api.fivesim_api import HostingRefused
from chalicelib.api.handler_protocol import Major
from chalicelib.domain import errors as e
from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import iso
from chalicelib.domain.rental import Rental
from chalicelib.domain.rental_state import ANY_SERVICE, RentalStatus, RentRequest

PRODUCTS = {"3hours": 4, "1day": 24, "10days": 240}
_WORDS = {hours: word for word, hours in PRODUCTS.items()}
_STATUSES = {RentalStatus.PENDING: "PENDING", RentalStatus.ACTIVE: "RECEIVED", RentalStatus.FINISHED: "FINISHED",
             RentalStatus.EXPIRED: "FINISHED", RentalStatus.CANCELED: "CANCELED", RentalStatus.FAILED: "CANCELED"}
_SMS_LISTED = 100

CountryWord = Callable[[int], str]


def buy(account: Account, country: int, operator: str | None, product: str, word: CountryWord) -> dict[str, Any]:
    hours = PRODUCTS.get(product.lower())
    if hours is None:
        raise HostingRefused(400, "no product")
    rental = wiring.rentals().rent(account, RentRequest(ANY_SERVICE, country, hours, operator))
    if rental.status != RentalStatus.ACTIVE.value:
        raise HostingRefused(400, "no free phones")  # every partner failed; the debit was reversed
    return order(rental, word)


def check(account_id: str, rental_id: int, word: CountryWord) -> dict[str, Any]:
    return order(wiring.rentals().get(account_id, rental_id), word)


def finish(account_id: str, rental_id: int, word: CountryWord) -> dict[str, Any]:
    return order(_moved(lambda: wiring.rentals().finish(account_id, rental_id)), word)


def cancel(account_id: str, rental_id: int, word: CountryWord) -> dict[str, Any]:
    return order(_moved(lambda: wiring.rentals().cancel(account_id, rental_id)), word)


def ban(account_id: str, rental_id: int) -> None:
    wiring.rentals().book.load_for_account(account_id, rental_id)  # NotFound when it is no rental of theirs
    raise HostingRefused(400, "hosting order")


def order(rental: Rental, word: CountryWord) -> dict[str, Any]:
    sms = wiring.rentals().inbox.page(rental, after_seq=max(0, int(rental.sms_count) - _SMS_LISTED), limit=_SMS_LISTED)
    return {
        "id": int(rental.rental_id), "phone": f"+{rental.phone}" if rental.phone else "",
        "operator": rental.operator or "any", "product": _WORDS.get(int(rental.hours), f"{int(rental.hours)}hours"),
        "price": Major(int(rental.paid_cents)), "status": _STATUSES[RentalStatus(rental.status)],
        "expires": iso(float(rental.ends_at)),
        "sms": [{"created_at": iso(float(m.received_at)), "date": iso(float(m.received_at)), "sender": m.sender or "",
                 "text": m.text, "code": m.code or ""} for m in sms],
        "created_at": iso(float(rental.created_at)), "forwarding": False, "forwarding_number": "",
        "country": word(int(rental.country)),
    }


def _moved(move: Callable[[], Rental]) -> Rental:
    try:
        return move()
    except e.NotFound:
        raise HostingRefused(400, "order not found") from None
    except e.IllegalTransition as refused:
        if refused.code == "CANT_CANCEL" or str(refused.details.get("status")) == RentalStatus.ACTIVE.value:
            raise HostingRefused(400, "hosting order") from None
        raise HostingRefused(400, "order expired") from None
    except e.Conflict:
        raise HostingRefused(400, "hosting order") from None
