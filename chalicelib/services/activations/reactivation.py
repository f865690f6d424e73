"""Another code on a number the user had before: SMS-Activate's extra activation, 5sim's reuse, REST's reactivate.

The same money rules as an order (ordering.py): the price is quoted first (the partner's price for the number
with our markup), then one transaction debits it and creates a PENDING activation, then the partner is asked.
The new activation is an ordinary one (it only remembers `reactivation_of`), so the refund policy, the early
cancel window, timeouts, polling and the resolve job for a crash after the debit treat it as any order.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.accounts import Account, require_can_spend
from chalicelib.domain.activation import Activation
from chalicelib.domain.errors import PartnerError, PriceAboveMax, ReactivationUnavailable
from chalicelib.domain.reactivation import reactivation_refusal
from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected, PartnerUnavailable, Reactivating
from chalicelib.services.activations.catalog import Quote
from chalicelib.services.activations.lifecycle import PARTNER_ERRORS
from chalicelib.services.activations.ordering import Ordering, OrderRequest
from chalicelib.services.platform import idempotency
from chalicelib.store import activation_repo

REUSE_LOOK_BACK_ORDERS = 200  # a number named without its order is looked for among this many newest orders


@dataclass(frozen=True)
class ReactivationQuote:
    parent: Activation
    partner: Reactivating
    partner_name: str
    cost_minor: int  # the partner's currency: what it asks for the number again
    cost_cents: int
    price_cents: int


class Reactivations:
    def __init__(self, ordering: Ordering) -> None:
        self.ordering = ordering

    def quote(self, account: Account, parent_id: int) -> ReactivationQuote:
        """What another activation on the number of `parent_id` costs now (one partner call where the protocol
        quotes it). Raises NotFound, ReactivationUnavailable, PartnerError (the partner could not be asked)."""
        return self._quote(self.ordering.lifecycle.load_for_account(account.account_id, parent_id))

    def _quote(self, parent: Activation) -> ReactivationQuote:
        refusal = reactivation_refusal(parent.status, parent.has_sms, parent.phone)
        partner = self.ordering.partners.get(parent.partner or "")
        if refusal is None and not isinstance(partner, Reactivating):
            refusal = "The provider of this number does not sell it again."
        if refusal is not None or not isinstance(partner, Reactivating):
            raise ReactivationUnavailable(refusal or "This number cannot be used again.")
        name, phone = str(parent.partner), str(parent.phone)
        try:
            cost_minor = partner.reactivation_cost_minor(str(parent.partner_activation_id), phone, parent.service)
        except (PartnerRejected, PartnerNoNumbers):
            raise ReactivationUnavailable("The provider no longer offers this number for the service.") from None
        except PartnerUnavailable:
            raise PartnerError("The number's provider did not answer; try again in a moment.",
                               code="PARTNER_UNAVAILABLE") from None
        if cost_minor is None:
            cost_minor = self.ordering.catalog.listed_cost_minor(name, parent.service, parent.country,
                                                                 parent.operator)
        if cost_minor is None:
            raise ReactivationUnavailable("The provider no longer lists this service in the number's country.")
        cost_cents, price_cents = self.ordering.catalog.priced_cost(name, cost_minor)
        return ReactivationQuote(parent, partner, name, cost_minor, cost_cents, price_cents)

    def reactivate_number(self, account: Account, service: str, phone: str) -> Activation:
        """Reactivate the account's newest activation for `service` on `phone` among its last REUSE_LOOK_BACK_ORDERS
        (5sim's reuse names a number, not an order: one bounded query); ReactivationUnavailable when none is."""
        recent = activation_repo.for_account(account.account_id, REUSE_LOOK_BACK_ORDERS)
        earlier = next((a for a in recent if a.phone == phone and a.service == service), None)
        if earlier is None:
            raise ReactivationUnavailable("You had no recent order for this service on this number.")
        return self.reactivate(account, earlier.activation_id)

    def reactivate(self, account: Account, parent_id: int, max_price_cents: int | None = None,
                   idempotency_key: str | None = None) -> Activation:
        """A WAITING activation on the same number, or a FAILED one refunded; nothing is debited when the number
        cannot be had, costs more than `max_price_cents`, or the key replays an earlier reactivation."""
        parent = self.ordering.lifecycle.load_for_account(account.account_id, parent_id)
        request = OrderRequest(service=parent.service, country=parent.country, operator=parent.operator,
                               max_price_cents=max_price_cents, reactivation_of=parent_id)
        self.ordering.validate(request, idempotency_key)
        require_can_spend(account)
        claim_key = idempotency.claim_key("reactivate", account.account_id, idempotency_key)
        replay = self.ordering.replay(claim_key, request)
        if replay is not None:
            return replay
        quote = self._quote(parent)
        if max_price_cents is not None and quote.price_cents > max_price_cents:
            raise PriceAboveMax(f"Another code on this number costs {quote.price_cents} cents, above your maximum.",
                                details={"min_price_cents": quote.price_cents})
        activation, replayed = self.ordering.debit_or_replay(account, request, quote.price_cents, claim_key)
        if replayed:
            return activation
        try:
            number = quote.partner.reactivate(str(parent.partner_activation_id), str(parent.phone), parent.service,
                                              quote.cost_minor)
        except PARTNER_ERRORS:
            return self.ordering.fail(activation)
        partner = self.ordering.partners[quote.partner_name]
        return self.ordering.issue(activation, partner, Quote(partner=quote.partner_name, operator=parent.operator,
                                                              cost_minor=quote.cost_minor, cost_cents=quote.cost_cents,
                                                              price_cents=quote.price_cents, count=1), number)
