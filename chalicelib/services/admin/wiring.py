"""Builds the AdminService from the settings with the process's collaborators (the admin Lambda and CLI use it)."""
from __future__ import annotations

from collections.abc import Sequence

from chalicelib.config import Settings
from chalicelib.domain.clock import Clock
from chalicelib.providers import registry
from chalicelib.providers.base import Partner
from chalicelib.providers.mailer import Mailer
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.activations.facade import Activations
from chalicelib.services.admin.account_actions import AccountAdmin
from chalicelib.services.admin.audit import AuditLog
from chalicelib.services.admin.service import AdminService
from chalicelib.services.admin.views import AdminViews
from chalicelib.services.money.forfeiture import Forfeiture
from chalicelib.services.money.reconcile import Reconciler, StripePaymentIntents
from chalicelib.services.money.reconcile_incremental import IncrementalReconciler
from chalicelib.services.money.refund_requests import refund_requests_over
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform import container
from chalicelib.services.support.tickets import SupportDesk


def build_admin_service(settings: Settings, *, clock: Clock | None = None, mailer: Mailer | None = None,
                        partners: Sequence[Partner] | None = None) -> AdminService:
    """The service with the process's collaborators; tests hand in their own clock, mailer and partners."""
    clock = clock or container.clock()
    mailer = mailer or container.mailer()
    partners = tuple(registry.partners() if partners is None else partners)
    audit = AuditLog(clock)
    wallet = Wallet(clock)
    refunds = refund_requests_over(container.stripe_gateway(), wallet, settings)
    support = SupportDesk(mailer, settings.public_base_url, clock)
    activations = Activations(settings, partners, clock, wallet=wallet)
    accounts = AccountAdmin(AccountsService(settings, clock, mailer), wallet, audit, mailer, activations,
                            Forfeiture(wallet, refunds))
    intents = StripePaymentIntents(container.stripe_gateway(), clock)
    reconciler = Reconciler(intents, clock)
    return AdminService(clock=clock, audit_log=audit, accounts=accounts, refunds=refunds,
                        support=support, reconciler=reconciler, changes=IncrementalReconciler(reconciler, intents),
                        prices=activations.catalog,
                        partners=partners, views=AdminViews(audit, support, partners, clock), activations=activations)
