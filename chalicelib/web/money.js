// The dashboard (balance and live numbers), payments, the ledger and the refund request of the balance.

import { get, items, post } from "./api.js";
import { activationTable } from "./activation.js";
import { names } from "./catalog.js";
import { pagedList } from "./paging.js";
import {
  availableCents, dateTime, empty, field, form, h, loading, money, notice, pageHeader, replace, table,
} from "./ui.js";

const ACTIVE = new Set(["PENDING", "WAITING", "RECEIVED", "RETRY"]);
const KIND_TEXT = {
  top_up: "Top-up", activation_charge: "Number bought", activation_refund: "Number refunded",
  rental_charge: "Number rented", rental_refund: "Rental refunded",
  refund_payout: "Refund to card", card_refund: "Card refund", refund_reversal: "Card refund failed, credited back",
  dispute: "Card dispute", dispute_reversal: "Dispute won", forfeiture: "Balance forfeited", adjustment: "Adjustment",
};
const kindText = (kind) => KIND_TEXT[kind] || String(kind || "").replace(/_/g, " ");

export async function dashboardPage(ctx) {
  replace(ctx.main, pageHeader("Dashboard"), loading());
  const [data, named] = await Promise.all([get("/v1/activations"), names()]);
  const list = items(data);
  const active = list.filter((a) => ACTIVE.has(a.status));
  const me = ctx.me || {};
  replace(ctx.main, pageHeader("Dashboard", h("span", { class: "muted" }, me.email || "")),
    h("div", { class: "tiles" },
      h("section", { class: "card tile", "aria-labelledby": "balance-title" },
        h("h2", { id: "balance-title", class: "label" }, "Available balance"),
        h("p", { class: "balance-big", id: "dashboard-balance" }, money(availableCents(me), me.currency)),
        me.held_cents ? h("p", { class: "muted" }, `${money(me.held_cents, me.currency)} held for a refund request`) : null,
        h("a", { href: "#/topup", class: "button primary" }, "Top up")),
      h("section", { class: "card tile", "aria-labelledby": "buy-title" },
        h("h2", { id: "buy-title", class: "label" }, "Need a code?"),
        h("p", {}, "Pick a service and a country; the SMS shows up here within seconds."),
        h("a", { href: "#/buy", class: "button" }, "Buy a number"))),
    h("section", { "aria-labelledby": "active-title" },
      h("h2", { id: "active-title" }, "Active numbers"),
      active.length ? activationTable(active, named) : empty("No number is waiting for an SMS right now.")),
    h("section", { "aria-labelledby": "recent-title" },
      h("h2", { id: "recent-title" }, "Recent numbers"),
      list.length ? [activationTable(list.slice(0, 5), named),
        h("p", {}, h("a", { href: "#/history" }, "See all numbers"))]
        : empty("Your numbers will be listed here.")));
}

const PAYMENT_TEXT = {
  top_up: "Card top-up", refund_request: "Refund request", refund_payout: "Refund to card",
  card_refund: "Card refund", refund_reversal: "Card refund failed, credited back", dispute: "Card dispute",
  dispute_reversal: "Dispute won",
};

export async function paymentsPage(ctx) {
  const currency = ctx.me?.currency;
  const cards = new Map();
  for (const card of items(await get("/v1/topups/cards").catch(() => ({ items: [] })))) {
    const name = `${String(card.brand || "card").replace(/^./, (c) => c.toUpperCase())} •••• ${card.last4 || "?"}`;
    for (const id of card.payment_method_ids || [card.id]) cards.set(id, name);
  }
  await pagedList(ctx, {
    title: "Payments",
    intro: h("p", { class: "lead" }, "Card top-ups, refund requests, refunds to your card and disputes."),
    path: "/v1/payments",
    nothing: "No payments yet. Your top-ups will appear here.",
    render: (rows) => table([
      { label: "Date", cell: (p) => dateTime(p.created_at) },
      { label: "Type", cell: (p) => PAYMENT_TEXT[p.type] || kindText(p.type) },
      { label: "Card", cell: (p) => cardOf(p, rows, cards) },
      { label: "Status", cell: (p) => paymentStatus(p, rows) },
      { label: "Reference", cell: (p) => h("code", { class: "ref" }, p.id) },
      { label: "Amount", class: "num", cell: (p) => money(p.amount_cents, p.currency || currency) },
    ], rows, "Payments, newest first"),
  });
}

// The card a payment moved money on: a top-up names its card; a refund or dispute names the payment it undoes.
function cardOf(payment, rows, cards) {
  const topUp = payment.type === "top_up" ? payment
    : rows.find((r) => r.type === "top_up" && r.payment_intent_id && r.payment_intent_id === payment.payment_intent_id);
  return (topUp && cards.get(topUp.payment_method_id)) || h("span", { class: "muted" }, "—");
}

// Card refunds and disputes have no status field: what happened follows from their kind, and a payout whose
// Stripe refund later failed has a reversal row with the same id.
const RECORD_STATUS = {
  refund_payout: ["Sent to your card", "good"], card_refund: ["Refunded to your card", "good"],
  refund_reversal: ["Credited back", "warn"], dispute: ["Disputed", "bad"], dispute_reversal: ["Won", "good"],
};

// Top-ups and refund requests have statuses of their own.
const PAYMENT_STATUS = {
  top_up: { created: "Started", requires_action: "Needs authentication", pending: "Confirming", credited: "Credited",
    failed: "Failed" },
  refund_request: { pending: "Under review", approving: "Being paid", approved: "Approved", declined: "Declined" },
};
const PAYMENT_TONE = { credited: "good", approved: "good", pending: "info", approving: "info", failed: "bad",
  declined: "bad" };

function paymentStatus(payment, rows = []) {
  if (!payment.status && RECORD_STATUS[payment.type]) {
    const failed = payment.type === "refund_payout"
      && rows.some((r) => r.type === "refund_reversal" && r.id === payment.id);
    const [text, tone] = failed ? ["Failed, credited back", "bad"] : RECORD_STATUS[payment.type];
    return h("span", { class: `badge ${tone}` }, text);
  }
  if (!payment.status) return "";
  const text = (PAYMENT_STATUS[payment.type] || {})[payment.status] || payment.status;
  return h("span", { class: `badge ${PAYMENT_TONE[payment.status] || "muted"}` }, text);
}

export async function ledgerPage(ctx) {
  const currency = ctx.me?.currency;
  await pagedList(ctx, {
    title: "Ledger",
    intro: h("p", { class: "lead" },
      "Every change to your balance, with what caused it. Your balance is always the sum of these entries."),
    path: "/v1/ledger",
    filters: [{ name: "kind", label: "Show", options: [["", "Every entry"],
      ...Object.entries(KIND_TEXT).map(([kind, text]) => [kind, text])] }],
    nothing: "No entries yet.",
    render: (rows) => table([
      { label: "Date", cell: (e) => dateTime(e.created_at) },
      { label: "Entry", cell: (e) => h("span", { "data-kind": e.kind }, kindText(e.kind)) },
      { label: "Reference", cell: ledgerReference },
      { label: "Amount", class: "num", cell: (e) => h("span", { class: e.amount_cents < 0 ? "debit" : "credit" },
        e.amount_cents > 0 ? `+${money(e.amount_cents, currency)}` : money(e.amount_cents, currency)) },
      { label: "Balance", class: "num", cell: (e) => money(e.balance_after_cents, currency) },
    ], rows, "Ledger entries, newest first"),
  });
}

// Activation entries point at the number they paid for; other causes (Stripe ids, requests) are shown as is.
function ledgerReference(entry) {
  if (String(entry.kind).startsWith("activation_") && /^\d+$/.test(entry.cause_id)) {
    return h("a", { href: `#/activation/${entry.cause_id}` }, `Number #${entry.cause_id}`);
  }
  return h("code", { class: "ref" }, entry.cause_id || "");
}

export async function refundPage(ctx) {
  const me = ctx.me || {};
  const previous = h("div");
  const preview = await get("/v1/refund-requests/preview");
  const requestForm = form({ class: "card narrow", "aria-label": "Request a refund" }, [
    h("p", {}, "You can ask for the remaining balance of ",
      h("strong", {}, money(availableCents(me), me.currency)),
      " to be paid back to the card(s) you topped up with. The amount is held while we review the request; ",
      "deposit and withdrawal fees are not refunded (agreement 6.3)."),
    refundPreview(preview, me.currency),
    field({ label: "Reason", name: "reason", type: "textarea", rows: "4", required: true, maxlength: "2000",
      hint: "A sentence or two is enough." }),
    h("button", { type: "submit", class: "primary" }, "Send the request"),
  ], async (data) => {
    const reply = await post("/v1/refund-requests", { reason: String(data.get("reason")).trim() });
    requestForm.replaceWith(notice("success", `Request ${reply.request_id} for `,
      h("strong", {}, money(reply.amount_cents, me.currency)), " is pending. We will email you the decision."));
    await ctx.refreshMe();
    await showRequests(previous, me.currency);
  });
  // With nothing spendable left (after an approved refund, say) there is nothing to ask for: no $0.00 request.
  const nothing = availableCents(me) <= 0;
  replace(ctx.main, pageHeader("Refund request"), nothing ? notice("info", "Your available balance is ",
    h("strong", {}, money(0, me.currency)), ": there is nothing to refund. ",
    me.held_cents ? `${money(me.held_cents, me.currency)} is held for a request below. ` : "",
    h("a", { href: "#/topup" }, "Top up"), " to buy numbers again.") : requestForm, previous);
  await showRequests(previous, me.currency);
}

// What a request made now pays back to each card, and what it keeps: each payment's card fee (Stripe's figure, or
// our estimate where Stripe does not say) and the withdrawal fee (6.3).
function refundPreview(preview, currency) {
  if (!preview || !preview.available_cents) return null;
  const row = (label, cents, id) => [h("dt", {}, label), h("dd", { id }, money(cents, currency))];
  return h("section", { class: "refund-preview", id: "refund-preview", "aria-labelledby": "refund-preview-title" },
    h("h2", { id: "refund-preview-title" }, "What you would get back"),
    h("dl", { class: "facts" },
      row("Back to your cards", preview.refund_cents, "preview-refund"),
      row("Card fees kept (6.3)", preview.deposit_fees_cents, "preview-card-fees"),
      preview.withdrawal_fee_cents ? row("Withdrawal fee", preview.withdrawal_fee_cents, "preview-withdrawal-fee") : null,
      preview.kept_on_balance_cents ? row("Stays on your balance", preview.kept_on_balance_cents, "preview-kept") : null),
    preview.parts.length ? h("ul", { class: "preview-parts", "aria-label": "Refund by card payment" },
      preview.parts.map((p) => h("li", {}, h("code", { class: "ref" }, p.payment_intent_id), ": ",
        `${money(p.amount_cents, currency)} back, ${money(p.fee_cents, currency)} card fee kept `
        + `(${p.fee_source === "stripe" ? "as Stripe reported it" : "our estimate: Stripe did not say"})`))) : null);
}

async function showRequests(el, currency) {
  const list = items(await get("/v1/refund-requests"));
  replace(el, list.length ? [h("h2", {}, "Your requests"), table([
    { label: "Date", cell: (r) => dateTime(r.created_at) },
    { label: "Request", cell: (r) => h("code", { class: "ref" }, r.request_id) },
    { label: "Status", cell: paymentStatus },
    { label: "Amount", class: "num", cell: (r) => money(r.amount_cents, currency) },
  ], list, "Refund requests")] : null);
}
