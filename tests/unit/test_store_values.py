"""Rows to values (store/values.py): what a repository hands a service from a row, older rows included."""
from __future__ import annotations

from chalicelib.domain.activation import ActivationSms
from chalicelib.domain.activation_status import ActivationStatus
from chalicelib.domain.rental import PendingExtension, RentalStatus
from chalicelib.store.activation_repo import activation_of
from chalicelib.store.activations import Activation as ActivationRow
from chalicelib.store.activations import SmsMessage
from chalicelib.store.rental_repo import rental_of
from chalicelib.store.rentals import PendingExtension as PendingExtensionMap
from chalicelib.store.rentals import Rental as RentalRow


def test_activation_of__numbers_typed_and_its_sms_as_values():
    # Given a row as PynamoDB reads numbers back (floats where ints were meant) with one SMS
    row = ActivationRow(7.0, account_id="acc_1", service="tg", country=6.0, operator="mts", status="RECEIVED",
                        price_cents=30.0, created_at=1.5, expires_at=2.5, version=3.0,
                        sms=[SmsMessage(text="code 123", code="123", received_at=2, source="push")])
    # When it becomes a value
    activation = activation_of(row)
    # Then ids, cents and counts are ints, times floats, the status its enum, the SMS a value
    assert (activation.activation_id, activation.country, activation.price_cents, activation.version) == (7, 6, 30, 3)
    assert all(type(n) is int for n in (activation.activation_id, activation.country, activation.price_cents))
    assert activation.status is ActivationStatus.RECEIVED and activation.created_at == 1.5
    assert activation.sms == (ActivationSms(text="code 123", code="123", received_at=2.0, source="push"),)


def test_rental_of__an_older_row_takes_the_defaults_it_lacks():
    # Given a rental row from before operators, extension counts and SMS counts were kept, mid-extension
    row = RentalRow(9, account_id="acc_1", service="any", country=0, status="ACTIVE", hours=4, paid_cents=100,
                    created_at=1.0, ends_at=2.0,
                    pending_extension=PendingExtensionMap(number=1, hours=4, price_cents=50, started_at=1.5))
    row.operator = row.extensions = row.sms_count = row.version = None
    # When it becomes a value
    rental = rental_of(row)
    # Then it serves any operator, counts from zero, and its pending extension is a value
    assert (rental.operator, rental.extensions, rental.sms_count, rental.version) == ("any", 0, 0, 0)
    assert rental.status is RentalStatus.ACTIVE and rental.has_sms is False
    assert rental.pending_extension == PendingExtension(number=1, hours=4, price_cents=50, started_at=1.5)
