"""The composition root: the only place that builds services, partners, gateways and clocks (over 250 lines on
purpose: one getter per service, with its lazy imports, all in one place).

Two kinds of function live here:
- `build_*(settings, …)` makes one service from the settings and the collaborators it is handed; tests call
  these with their own clock, mailer or partners;
- the process's getters (`activations()`, `top_ups()`, …) build on first use from the process's collaborators
  and keep what they built until the settings change (a rotated secret), so a cold start builds only what its
  first request needs.
Route modules, jobs and the admin Lambda ask the getters; no service builds another. Service modules are
imported inside the functions, so importing this module loads none of them.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.config import Settings, get_settings, rebuilt_with_settings
from chalicelib.domain.clock import Clock, SystemClock

if TYPE_CHECKING:
    from decimal import Decimal

    from chalicelib.providers.base import Partner
    from chalicelib.providers.live_sockets import LiveSockets
    from chalicelib.providers.mailer import Mailer
    from chalicelib.providers.stripe_gateway import StripeGateway
    from chalicelib.services.accounts.api_keys import ApiKeys
    from chalicelib.services.accounts.recovery import Recovery
    from chalicelib.services.accounts.registration import AccountsService
    from chalicelib.services.accounts.rights import AccountRights
    from chalicelib.services.accounts.security_emails import SecurityNotices
    from chalicelib.services.accounts.signin import SignIn
    from chalicelib.services.accounts.webhook_settings import WebhookSettings
    from chalicelib.services.activations.agent_sms import AgentSmsDesk
    from chalicelib.services.activations.batch_ordering import BatchOrdering
    from chalicelib.services.activations.facade import Activations
    from chalicelib.services.activations.reactivation import Reactivations
    from chalicelib.services.activations.sms_intake import SmsIntake
    from chalicelib.services.admin.service import AdminService
    from chalicelib.services.money.reconcile_incremental import IncrementalReconciler
    from chalicelib.services.money.refund_requests import RefundRequests
    from chalicelib.services.money.stripe_events import StripeEvents
    from chalicelib.services.money.top_ups import CardGateway, TopUps
    from chalicelib.services.money.wallet import Wallet
    from chalicelib.services.platform.live_updates import LiveUpdates, Sockets
    from chalicelib.services.platform.mail_outbox import DurableMailer
    from chalicelib.services.platform.rate_limit import RateLimiter
    from chalicelib.services.platform.user_webhooks import UserWebhooks
    from chalicelib.services.platform.webhook_log import Redelivery
    from chalicelib.services.rentals.service import Rentals
    from chalicelib.services.support.contact import SupportContact
    from chalicelib.services.support.tickets import SupportDesk


# Gateways, partners and the clock -------------------------------------------------------------------------------
@functools.cache
def clock() -> Clock:
    return SystemClock()


@rebuilt_with_settings
def mailer() -> DurableMailer:
    """Every email goes through the outbox's mailer: a message SES refuses is kept and sent again, never dropped."""
    from chalicelib.services.platform.mail_outbox import DurableMailer

    return DurableMailer(_sender(get_settings()), clock())


def _sender(s: Settings) -> Mailer:
    from chalicelib.providers.mailer import OutboxMailer, SesMailer

    if s.mail_outbox_dir:
        return OutboxMailer(s.mail_outbox_dir, s.mail_from, s.support_email)
    return SesMailer(s.mail_from, s.region, s.support_email)


@rebuilt_with_settings
def stripe_gateway() -> StripeGateway:
    from chalicelib.providers.stripe_gateway import StripeGateway

    s = get_settings()
    return StripeGateway(secret_key=s.stripe_secret_key, api_base=s.stripe_api_base,
                         webhook_secret=s.stripe_webhook_secret)


@rebuilt_with_settings
def partners() -> tuple[Partner, ...]:
    """The configured partners' adapters, each with its circuit breaker (their HTTP pools are shared), kept per
    process."""
    from chalicelib.providers.registry import build_partners

    return build_partners(get_settings(), clock())


@functools.cache
def live_sockets() -> LiveSockets:
    """The WebSocket management API's clients, one set a process (built under a lock: pushes come from threads)."""
    from chalicelib.providers.live_sockets import LiveSockets

    return LiveSockets(get_settings().region)


# Money ----------------------------------------------------------------------------------------------------------
@rebuilt_with_settings
def wallet() -> Wallet:
    from chalicelib.services.money.wallet import Wallet
    from chalicelib.store.money import DynamoMoneyStore

    return Wallet(clock(), DynamoMoneyStore(), get_settings().write_shards)


@rebuilt_with_settings
def top_ups() -> TopUps:
    from chalicelib.services.money.top_ups import TopUps

    return TopUps(stripe_gateway(), get_settings(), clock())


@rebuilt_with_settings
def stripe_events() -> StripeEvents:
    from chalicelib.services.money.stripe_events import StripeEvents

    return StripeEvents(stripe_gateway(), wallet(), mailer())


@rebuilt_with_settings
def refund_requests() -> RefundRequests:
    return build_refund_requests(stripe_gateway(), wallet(), get_settings())


def build_refund_requests(gateway: CardGateway, money: Wallet, settings: Settings) -> RefundRequests:
    """RefundRequests with the stage's fees (REFUND_FEE_CENTS; CARD_FEE_* where Stripe does not say a fee)."""
    from chalicelib.services.money.refund_plan import DepositFees, FeeEstimate
    from chalicelib.services.money.refund_requests import RefundRequests

    estimate = FeeEstimate(settings.card_fee_basis_points, settings.card_fee_fixed_cents)
    return RefundRequests(gateway, money, settings.refund_fee_cents, DepositFees(gateway, estimate))


def incremental_reconciler() -> IncrementalReconciler:
    """A new reconciler for each scheduled run (it holds the run's Stripe pages); the settings are read then too."""
    from chalicelib.services.money.reconcile import Reconciler, StripePaymentIntents
    from chalicelib.services.money.reconcile_incremental import IncrementalReconciler

    intents = StripePaymentIntents(stripe_gateway(), clock())
    return IncrementalReconciler(Reconciler(intents, clock()), intents)


# Activations ----------------------------------------------------------------------------------------------------
def build_activations(settings: Settings, partners: Sequence[Partner], clock: Clock, wallet: Wallet,
                      webhooks: UserWebhooks | None = None, live: LiveUpdates | None = None) -> Activations:
    """The activations facade and its parts (catalog, lifecycle, ordering, SMS intake) over the same partners;
    SMS intake pushes to the pages that listen through `live` (by default the process's management API), and
    events reach users' webhooks through `webhooks` (by default those the settings make)."""
    from chalicelib.services.activations.catalog import Catalog
    from chalicelib.services.activations.delivery_memory import DeliveryMemory
    from chalicelib.services.activations.facade import Activations
    from chalicelib.services.activations.lifecycle import Lifecycle
    from chalicelib.services.activations.ordering import Ordering
    from chalicelib.services.platform.partner_calls import PartnerCalls

    by_name = {p.name: p for p in partners}
    memory = DeliveryMemory(settings, clock)
    catalog = Catalog(settings, partners, clock, memory)
    lifecycle = Lifecycle(settings, by_name, clock, wallet, memory, PartnerCalls(by_name, clock, settings.write_shards))
    ordering = Ordering(settings, by_name, clock, catalog, lifecycle, wallet)

    def intake() -> SmsIntake:
        from chalicelib.services.activations.sms_intake import SmsIntake

        pages = live or build_live_updates(settings, clock, live_sockets())
        return SmsIntake(settings, by_name, clock, lifecycle, pages)

    def reactivations() -> Reactivations:
        from chalicelib.services.activations.reactivation import Reactivations

        return Reactivations(ordering)

    def batches() -> BatchOrdering:
        from chalicelib.services.activations.batch_ordering import BatchOrdering

        return BatchOrdering(ordering)

    def user_webhooks() -> UserWebhooks:
        return webhooks or build_user_webhooks(settings, clock)

    # SMS intake, reactivation, batches and webhooks are built when first used (a cold order loads none of them)
    return Activations(settings, clock, partners, memory=memory, catalog=catalog, lifecycle=lifecycle,
                       webhooks=user_webhooks, ordering=ordering, intake=intake, reactivations=reactivations,
                       batches=batches)


def build_live_updates(settings: Settings, clock: Clock, sockets: Sockets) -> LiveUpdates:
    """Live updates over a management API (`sockets`): pages of the dashboard's own origin, their tokens checked
    against the IP guessing budget every credential shares."""
    from chalicelib.domain.public_address import origin_of
    from chalicelib.services.platform.live_updates import LiveUpdates

    return LiveUpdates(clock, sockets, failed_credentials_limiter(), page_origin=origin_of(settings.public_base_url),
                       management_scheme="http" if settings.is_local else "https")


@rebuilt_with_settings
def live_updates() -> LiveUpdates:
    return build_live_updates(get_settings(), clock(), live_sockets())


@rebuilt_with_settings
def redelivery() -> Redelivery:
    """Redelivering one webhook delivery on the user's request (the delivery log's route)."""
    from chalicelib.services.platform.webhook_log import Redelivery

    return Redelivery(clock(), get_settings().write_shards)


def build_user_webhooks(settings: Settings, clock: Clock) -> UserWebhooks:
    from chalicelib.services.accounts.webhook_settings import webhook_policy
    from chalicelib.services.platform.user_webhooks import UserWebhooks

    return UserWebhooks(clock, webhook_policy(settings), shards=settings.write_shards)


@rebuilt_with_settings
def activations() -> Activations:
    settings = get_settings()
    return build_activations(settings, partners(), clock(), wallet())


@rebuilt_with_settings
def rentals() -> Rentals:
    """The process's rentals over the configured partners, sharing the activations' wallet."""

    shared = activations()
    return build_rentals(get_settings(), partners(), clock(), shared.ordering.wallet, shared.catalog.markup_percent)


def build_rentals(settings: Settings, partners: Sequence[Partner], clock: Clock, wallet: Wallet,
                  markup: Callable[[], Decimal]) -> Rentals:
    """The rentals facade and its parts over these partners; `markup` is the catalog's (one runtime setting)."""
    from chalicelib.services.rentals.book import RentalBook
    from chalicelib.services.rentals.inbox import RentalInbox
    from chalicelib.services.rentals.pricing import RentPricing
    from chalicelib.services.rentals.renting import Renting
    from chalicelib.services.rentals.service import Rentals
    from chalicelib.services.rentals.upkeep import RentalUpkeep

    pricing = RentPricing(partners, {p.name: p.rate_to_base for p in settings.partners}, clock, markup)
    book, inbox = RentalBook(clock, wallet), RentalInbox(settings, clock)
    push_urls = {p.name: f"{settings.public_base_url}/v1/partners/{p.name}/push"
                 for p in settings.partners if p.push_secret}
    return Rentals(settings, clock, pricing=pricing, book=book, inbox=inbox,
                   upkeep=RentalUpkeep(settings, clock, book, inbox, pricing),
                   renting=Renting(settings, clock, pricing, book, wallet, push_urls))


@rebuilt_with_settings
def agent_sms_desk() -> AgentSmsDesk:
    from chalicelib.services.activations.agent_sms import AgentSmsDesk

    return AgentSmsDesk(activations().intake, clock())


# Accounts, support, platform ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountServices:
    """What the account routes use, built together over one AccountsService."""

    accounts: AccountsService
    signin: SignIn
    recovery: Recovery
    rights: AccountRights
    api_keys: ApiKeys
    webhooks: WebhookSettings
    notices: SecurityNotices


def build_account_services(settings: Settings, clock: Clock, mailer: Mailer) -> AccountServices:
    from chalicelib.services.accounts.api_keys import ApiKeys
    from chalicelib.services.accounts.recovery import Recovery
    from chalicelib.services.accounts.registration import AccountsService
    from chalicelib.services.accounts.rights import AccountRights
    from chalicelib.services.accounts.security_emails import SecurityNotices
    from chalicelib.services.accounts.sessions import Credentials
    from chalicelib.services.accounts.signin import SignIn
    from chalicelib.services.accounts.webhook_settings import WebhookSettings, webhook_policy

    accounts = AccountsService(settings, clock, mailer)
    signin = SignIn(accounts)
    return AccountServices(accounts=accounts, signin=signin, recovery=Recovery(signin), rights=AccountRights(accounts),
                           api_keys=ApiKeys(Credentials(clock, settings.session_ttl_seconds), clock,
                                            settings.activity_retention_days),
                           webhooks=WebhookSettings(clock, settings.activity_retention_days, webhook_policy(settings)),
                           notices=SecurityNotices(mailer, settings.public_base_url, clock))


@rebuilt_with_settings
def account_services() -> AccountServices:
    return build_account_services(get_settings(), clock(), mailer())


@rebuilt_with_settings
def support_desk() -> SupportDesk:
    from chalicelib.services.support.tickets import SupportDesk

    return SupportDesk(mailer(), get_settings().public_base_url, clock())


@functools.cache
def support_contact() -> SupportContact:
    """SupportContact with the process's collaborators (its limiters remember who is over, so one a process)."""
    from chalicelib.services.platform.rate_limit import Limit, RateLimiter
    from chalicelib.services.support.contact import HOUR, PER_EMAIL, SupportContact

    settings, now = get_settings(), clock()
    return SupportContact(support_desk(), mailer(), settings.public_base_url, now,
                          per_ip=RateLimiter(Limit(settings.support_contact_per_ip_per_hour, HOUR), now),
                          per_email=RateLimiter(PER_EMAIL, now))


@rebuilt_with_settings
def rate_limiter() -> RateLimiter:
    """The per-client request budget, from the settings."""
    from chalicelib.services.platform.rate_limit import Limit, RateLimiter

    settings = get_settings()
    return RateLimiter(Limit.of(settings.rate_limit_per_second, settings.rate_limit_burst), clock())


@functools.cache
def failed_credentials_limiter() -> RateLimiter:
    """Unknown credentials per IP (its budget is fixed, not a setting)."""
    from chalicelib.services.platform.rate_limit import FAILED_CREDENTIALS, RateLimiter

    return RateLimiter(FAILED_CREDENTIALS, clock())


# Administration -------------------------------------------------------------------------------------------------
def build_admin_service(settings: Settings, clock: Clock, mailer: Mailer, partners: Sequence[Partner],
                        stripe: StripeGateway) -> AdminService:
    """The admin service and everything it reaches, sharing one wallet and one activations facade."""
    from chalicelib.services.accounts.registration import AccountsService
    from chalicelib.services.admin.account_actions import AccountAdmin
    from chalicelib.services.admin.audit import AuditLog
    from chalicelib.services.admin.service import AdminService
    from chalicelib.services.admin.views import AdminViews
    from chalicelib.services.money.forfeiture import Forfeiture
    from chalicelib.services.money.reconcile import Reconciler, StripePaymentIntents
    from chalicelib.services.money.reconcile_incremental import IncrementalReconciler
    from chalicelib.services.money.wallet import Wallet
    from chalicelib.services.support.tickets import SupportDesk
    from chalicelib.store.money import DynamoMoneyStore

    partners = tuple(partners)
    audit = AuditLog(clock)
    money = Wallet(clock, DynamoMoneyStore())
    refunds = build_refund_requests(stripe, money, settings)
    support = SupportDesk(mailer, settings.public_base_url, clock)
    facade = build_activations(settings, partners, clock, money)
    accounts = AccountAdmin(AccountsService(settings, clock, mailer), money, audit, mailer, facade,
                            Forfeiture(money, refunds))
    intents = StripePaymentIntents(stripe, clock)
    reconciler = Reconciler(intents, clock)
    return AdminService(clock=clock, audit_log=audit, accounts=accounts, refunds=refunds, support=support,
                        reconciler=reconciler, changes=IncrementalReconciler(reconciler, intents),
                        prices=facade.catalog, partners=partners, views=AdminViews(audit, support, partners, clock),
                        activations=facade)


@rebuilt_with_settings
def admin_service() -> AdminService:
    return build_admin_service(get_settings(), clock(), mailer(), partners(), stripe_gateway())
