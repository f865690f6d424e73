"""SMS reaching a rental, by whichever path is first: the partner's push, the user looking (rate-limited), or the
poller's one list call per partner per cycle. All end in `record`, idempotent by content and the partner's date:
the SMS row, the rental's count and the user's webhook event (`rental.sms_received`) commit in one transaction, with
a claim on the SMS's fingerprint that a repeated push or poll fails.
"""
from __future__ import annotations

import enum

from chalicelib.config import Settings
from chalicelib.domain.clock import Clock, iso
from chalicelib.domain.errors import NotFound, PartnerError
from chalicelib.domain.ids import sha256_hex
from chalicelib.domain.rental import Rental, RentalSms
from chalicelib.domain.rental_state import RentalStatus
from chalicelib.domain.webhook_events import EventType, WebhookEvent, subscribes
from chalicelib.observability import logger
from chalicelib.providers.rentals import RentalPartner, RentSms
from chalicelib.services.platform.webhook_outbox import queuing
from chalicelib.services.rentals.pricing import PARTNER_ERRORS
from chalicelib.store import account_repo, rental_repo, transaction
from chalicelib.store.base import WriteRefused
from chalicelib.store.ledger import claimed
from chalicelib.store.rental_repo import Guard

_ATTEMPTS = 20
_PAGE = 50
_MAX_PAGES = 10  # one look or poll reads at most this many pages of a rental's SMS
_CLAIM_KEPT_SECONDS = 7 * 24 * 3600  # after the rental's end: a late repeated push is still recognised


class SmsSource(str, enum.Enum):
    PUSH = "push"
    ON_DEMAND = "on_demand"
    POLL = "poll"


class RentalInbox:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def record(self, rental: Rental, sms: RentSms, source: SmsSource) -> Rental:
        """Store one SMS (a no-op when it is not new, or the rental has ended) and queue the user's webhook."""
        claim_key = _fingerprint(rental.rental_id, sms)
        for _ in range(_ATTEMPTS):
            if rental.status is not RentalStatus.ACTIVE:
                return rental  # an SMS after the end changes nothing
            try:
                return self._commit(rental, sms, source, claim_key)
            except WriteRefused:
                if claimed(claim_key):
                    return rental
                reloaded = rental_repo.load(rental.rental_id)
                if reloaded is None:
                    return rental
                rental = reloaded
        logger.warning("rental SMS not recorded: the rental kept changing", extra={"rental_id": rental.rental_id})
        return rental

    def refresh(self, rental: Rental, partner: RentalPartner, source: SmsSource, *, must_answer: bool = False
                ) -> Rental:
        """Ask the partner for the SMS we do not hold yet (pages from our count on) and record them. A partner that
        does not answer leaves the rental as it is, or, `must_answer`, is PartnerError (a decision needs its word)."""
        page = rental.sms_count // _PAGE
        for _ in range(_MAX_PAGES):
            try:
                state = partner.state(str(rental.partner_rent_id), page, _PAGE)
            except PARTNER_ERRORS as exc:
                logger.info("rental status unavailable", extra={"rental_id": rental.rental_id, "error": str(exc)})
                if must_answer:
                    raise PartnerError("The number's provider cannot tell now whether an SMS arrived; try again in "
                                       "a moment.", code="PARTNER_UNAVAILABLE") from exc
                return rental
            for sms in state.sms:
                rental = self.record(rental, sms, source)
            if not state.sms or state.quantity <= (page + 1) * _PAGE:
                return rental
            page += 1
        return rental

    def claim_look(self, rental: Rental) -> bool:
        """Whether this reader should ask the partner now: one conditional stamp of `last_checked_at`, so
        concurrent readers ask once per STATUS_REFRESH_MIN_SECONDS."""
        return rental_repo.claim_look(rental.rental_id, self.clock.now(), self.settings.status_refresh_min_seconds)

    def page(self, rental: Rental, *, after_seq: int, limit: int) -> list[RentalSms]:
        return rental_repo.sms_page(rental.rental_id, after_seq=after_seq, limit=limit)

    def _commit(self, rental: Rental, sms: RentSms, source: SmsSource, claim_key: str) -> Rental:
        from chalicelib.domain.sms_code import extract_code  # its regexes compile on the first SMS, not at cold start

        seq = rental.sms_count + 1
        received = RentalSms(rental.rental_id, seq, text=sms.text, received_at=self.clock.now(), source=source.value,
                             code=extract_code(sms.text, rental.service), sender=sms.sender, partner_date=sms.date)
        changes = {"sms_count": seq, "has_sms": True}
        writes = [rental_repo.change_write(rental, changes, Guard.ACTIVE),
                  *rental_repo.sms_writes(received, claim_key, rental.ends_at + _CLAIM_KEPT_SECONDS)]
        account = account_repo.read(rental.account_id, consistent=False)
        if account is not None and subscribes(account, EventType.RENTAL_SMS_RECEIVED):
            writes.append(queuing(rental.account_id, _event(rental, received), shards=self.settings.write_shards,
                                  after_sequence=seq - 1 if seq > 1 else None))
        transaction.commit(writes)
        return rental_repo.changed(rental, changes)


def _fingerprint(rental_id: int, sms: RentSms) -> str:
    fingerprint = sha256_hex("|".join((sms.sender or "", sms.date or "", sms.text)))
    return f"rentsms#{rental_id}#{fingerprint}"


def _event(rental: Rental, sms: RentalSms) -> WebhookEvent:
    """rental.sms_received: the rental's stream, counted by its SMS (each waits for the one before it)."""
    return WebhookEvent(EventType.RENTAL_SMS_RECEIVED, f"rental:{rental.rental_id}", sms.seq, sms.received_at, {
        "rental_id": rental.rental_id, "service": rental.service, "country": rental.country, "phone": rental.phone,
        "ends_at": iso(rental.ends_at),
        "sms": {"seq": sms.seq, "code": sms.code, "text": sms.text, "sender": sms.sender,
                "received_at": iso(sms.received_at)}})


def find(partner: str, partner_rent_id: str) -> Rental:
    rental = rental_repo.find_by_partner_ref(partner, partner_rent_id)
    if rental is None:
        raise NotFound(f"No rental {partner_rent_id} of partner {partner} (yet).")
    return rental
