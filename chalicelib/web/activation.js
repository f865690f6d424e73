// One activation, live: the number, the code as it arrives, countdowns and actions; and the list of all of them.

import { get, post } from "./api.js";
import { names } from "./catalog.js";
import { liveReady, subscribe } from "./live.js";
import { pagedList } from "./paging.js";
import {
  STATUS_TEXT, clock, confirmDialog, copyButton, dateTime, h, loading, money, notice, pageHeader, replace,
  secondsUntil, statusBadge, table, toast,
} from "./ui.js";

const POLL_MS = 2000;
const LIVE_POLL_MS = 15000;  // while the live socket is ready: for the changes it does not push (a partner's cancel)
// Times on the wire are whole seconds, so the true moment may be up to a second after the one shown.
const CLOCK_SLACK_MS = 1000;
const FINAL = new Set(["FINISHED", "CANCELED", "TIMEOUT", "BANNED", "REVOKED", "FAILED"]);
const ENDINGS = {
  FINISHED: "This activation is finished. Thank you!",
  CANCELED: "You canceled this number before any SMS arrived, so its price was refunded to your balance.",
  TIMEOUT: "No SMS arrived before the number expired, so its price was refunded to your balance.",
  BANNED: "You reported this number as not working. If no SMS had arrived, its price was refunded.",
  REVOKED: "This number was withdrawn by our staff. If no SMS had arrived, its price was refunded.",
  FAILED: "Our partner could not provide this number, so its price was refunded to your balance.",
};

const phoneText = (digits) => (digits ? `+${digits}` : "");

// A finished number that got its code can be ordered again for the same service (Telegram and WhatsApp ask for a
// code at the next sign-in): a new activation, charged and refunded like any order. While a number is still open,
// "Get another SMS" (free) is the way to a second code.
const canGetAgain = (a) => a.status === "FINISHED" && (a.sms || []).length > 0;
const newIdempotencyKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

// Shows the price (GET …/reactivation), asks, then orders at most that price; opens the new number's page.
async function getAnotherCode(activation, named) {
  const path = `/v1/activations/${encodeURIComponent(activation.id)}`;
  try {
    const quote = await get(`${path}/reactivation`);
    const confirmed = await confirmDialog({
      title: "Get another code on this number?",
      body: `${named.service(quote.service)} on ${phoneText(quote.phone)} again costs ${money(quote.price_cents)}. `
        + "It is a new order: if no code arrives, its price goes back to your balance.",
      confirm: `Pay ${money(quote.price_cents)}` });
    if (!confirmed) return;
    const again = await post(`${path}/reactivate`, { max_price_cents: quote.price_cents },
      { "Idempotency-Key": newIdempotencyKey() });
    location.hash = `#/activation/${again.id}`;
  } catch (error) {
    toast(error.message);
  }
}

function againButton(activation, named) {
  return h("button", { type: "button", class: "secondary again-button",
    "aria-label": `Get another code on this number, ${phoneText(activation.phone)}`,
    onclick: () => getAnotherCode(activation, named) }, "Get another code on this number");
}

export async function activationPage(ctx) {
  const id = ctx.params.id;
  replace(ctx.main, pageHeader("Your number"), loading());
  const [first, named] = await Promise.all([get(`/v1/activations/${encodeURIComponent(id)}`), names()]);
  let activation = first;
  const view = h("div", { class: "activation" });
  const message = h("div", { "aria-live": "assertive" });
  replace(ctx.main, pageHeader("Your number", h("a", { href: "#/history" }, "All numbers")), message, view);

  const act = async (verb, confirmation) => {
    const asked = typeof confirmation === "function" ? confirmation(activation) : confirmation;
    if (asked && !(await confirmDialog(asked))) return;
    replace(message);
    try {
      activation = await post(`/v1/activations/${encodeURIComponent(id)}/${verb}`);
      draw();
      ctx.refreshMe();
    } catch (error) {
      replace(message, notice("error", error.message));
    }
  };
  const parts = activationParts(activation, act, named);
  const draw = () => drawActivation(view, parts, activation);
  draw();

  let lastPoll = 0;
  const refresh = async () => {
    lastPoll = Date.now();
    try {
      const fresh = await get(`/v1/activations/${encodeURIComponent(id)}`);
      const newSms = (fresh.sms || []).length > (activation.sms || []).length;
      activation = fresh;
      draw();
      if (newSms) toast(fresh.phone ? `A new SMS has arrived on ${phoneText(fresh.phone)}.` : "A new SMS has arrived.");
      if (FINAL.has(fresh.status)) ctx.refreshMe();
    } catch {
      // A missed poll is retried two seconds later; the page keeps what it has.
    }
  };
  // A pushed code is drawn from the message at once, then the whole activation is read to follow it; polling stays
  // as the fallback, slower while pushes flow.
  const unsubscribe = subscribe((pushed) => {
    if (pushed.type !== "activation" || String(pushed.activation_id) !== String(id)) return;
    if (pushed.code && lastCode(activation) !== pushed.code) {
      activation = { ...activation, status: pushed.status,
        sms: [...(activation.sms || []), { code: pushed.code, text: "", received_at: new Date().toISOString() }] };
      draw();
      toast(activation.phone ? `A new SMS has arrived on ${phoneText(activation.phone)}.` : "A new SMS has arrived.");
    }
    refresh();
  });
  const poll = setInterval(() => {
    if (FINAL.has(activation.status)) return;
    // Pushes bring codes, not the other changes: past its lifetime (the timeout) the page polls as without them.
    const overdue = activation.expires_at && Date.parse(activation.expires_at) <= Date.now();
    if (liveReady() && !overdue && Date.now() - lastPoll < LIVE_POLL_MS) return;
    refresh();
  }, POLL_MS);
  const tick = setInterval(() => parts.tick(activation), 1000);
  ctx.onLeave(() => { clearInterval(poll); clearInterval(tick); unsubscribe(); });
}

// The parts of the page that stay (so focus and copy buttons survive a poll), filled anew on each draw.
function activationParts(activation, act, named) {
  const parts = {
    named,
    title: h("h2", { class: "activation-title" }),
    status: h("div", { class: "status-line" }),
    phone: h("div", { class: "big-value", id: "phone" }),
    phoneCopy: copyButton(() => String(parts.current.phone || ""), "Copy the number"),
    code: h("div", { class: "big-value code", id: "code", "aria-live": "polite" }),
    codeCopy: copyButton(() => lastCode(parts.current) || "", "Copy the code"),
    smsList: h("div", { class: "sms-list" }),
    timers: h("dl", { class: "timers" }),
    cancelTimer: h("dd", { id: "cancel-timer" }),
    expiryTimer: h("dd", { id: "expiry-timer" }),
    actions: h("div", { class: "actions" }),
    ending: h("div"),
    finish: h("button", { type: "button", class: "primary", onclick: () => act("finish") }, "Finish"),
    retry: h("button", { type: "button", class: "secondary", onclick: () => act("retry") }, "Get another SMS"),
    cancel: h("button", { type: "button", class: "secondary", id: "cancel-button", onclick: () => act("cancel", {
      title: "Cancel this number?", body: "The number is released and its price goes back to your balance.",
      confirm: "Cancel the number", danger: true }) }, "Cancel"),
    ban: h("button", { type: "button", class: "link danger", id: "report-button", onclick: () => act("ban", (now) => ({
      title: "Report this number?", body: "Use this when the service refuses the number (already used, blocked). "
        + "You will not be offered it again. " + ((now.sms || []).length
        ? "An SMS has arrived, so the charge is final: reporting refunds nothing."
        : "No SMS has arrived, so its price goes back to your balance."),
      confirm: "Report the number", danger: true })) }, "Report number"),
    current: activation,
  };
  parts.tick = (current) => tickTimers(parts, current);
  return parts;
}

function drawActivation(view, parts, activation) {
  parts.current = activation;
  const active = !FINAL.has(activation.status);
  const sms = activation.sms || [];
  const code = lastCode(activation);
  replace(parts.title, `${parts.named.service(activation.service)} · ${parts.named.country(activation.country)}`);
  replace(parts.status, statusBadge(activation.status), h("span", { class: "muted" },
    ` ${money(activation.price_cents)} · ordered ${dateTime(activation.created_at)}`));
  replace(parts.phone, activation.phone ? phoneText(activation.phone) : h("span", { class: "muted" }, "Getting a number…"));
  parts.phoneCopy.hidden = !activation.phone;
  replace(parts.code, code || (active ? h("span", { class: "waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }),
    activation.status === "RETRY" ? "Waiting for another SMS…" : "Waiting for the SMS…") : h("span", { class: "muted" }, "No code")));
  parts.codeCopy.hidden = !code;
  replace(parts.smsList, sms.length ? sms.slice().reverse().map((m) => h("div", { class: "sms" },
    h("p", { class: "sms-text" }, m.text), h("p", { class: "muted small" }, dateTime(m.received_at)))) : null);
  replace(parts.actions,
    ["RECEIVED", "RETRY"].includes(activation.status) ? parts.finish : null,
    activation.status === "RECEIVED" ? parts.retry : null,
    activation.status === "WAITING" ? parts.cancel : null,
    ["WAITING", "RECEIVED", "RETRY"].includes(activation.status) ? parts.ban : null);
  const ending = activation.status === "BANNED" && sms.length
    ? "You reported this number. An SMS had arrived, so its price stands (the charge is final with the first SMS)."
    : ENDINGS[activation.status];
  replace(parts.ending, active ? null : notice(activation.status === "FINISHED" ? "success" : "info",
    ending || "This activation has ended.", " ", h("a", { href: "#/buy" }, "Buy another number")),
    canGetAgain(activation) ? againButton(activation, parts.named) : null);
  if (!view.childElementCount) mount(view, parts);
  tickTimers(parts, activation);
}

function mount(view, parts) {
  view.append(
    h("section", { class: "card" }, parts.title, parts.status,
      h("div", { class: "value-row" }, h("div", {}, h("p", { class: "label" }, "Number"), parts.phone), parts.phoneCopy),
      h("div", { class: "value-row" }, h("div", {}, h("p", { class: "label" }, "Code"), parts.code), parts.codeCopy),
      parts.smsList, parts.timers, parts.actions, parts.ending));
}

function tickTimers(parts, activation) {
  const active = !FINAL.has(activation.status);
  const expires = active ? secondsUntil(activation.expires_at) : null;
  const cancelIn = activation.status === "WAITING" ? secondsUntil(activation.cancel_available_at, CLOCK_SLACK_MS) : null;
  // Before any SMS a report refunds like a cancel, so it waits for the same moment; after one it never waits.
  parts.cancel.disabled = Boolean(cancelIn);
  parts.ban.disabled = Boolean(cancelIn);
  replace(parts.cancelTimer, cancelIn ? `in ${clock(cancelIn)}` : "now");
  replace(parts.expiryTimer, expires === null ? "" : clock(expires));
  const rows = [];
  if (expires !== null) rows.push(h("dt", {}, "Expires in"), parts.expiryTimer);
  if (cancelIn !== null) rows.push(h("dt", {}, "Cancel or report available"), parts.cancelTimer);
  if (rows.length !== parts.timers.childElementCount) replace(parts.timers, rows);
}

function lastCode(activation) {
  const withCode = (activation.sms || []).filter((m) => m.code);
  return withCode.length ? withCode[withCode.length - 1].code : null;
}

const STATUS_FILTER = [["", "Every status"], ...Object.entries(STATUS_TEXT)];

export async function historyPage(ctx) {
  const named = await names();
  await pagedList(ctx, {
    title: "Numbers",
    actions: h("a", { href: "#/buy", class: "button primary" }, "Buy a number"),
    path: "/v1/activations",
    filters: [{ name: "status", label: "Status", options: STATUS_FILTER }],
    nothing: "No number to show.",
    render: (rows) => activationTable(rows, named),
  });
}

export function activationTable(list, named) {
  return table([
    { label: "Ordered", cell: (a) => h("a", { href: `#/activation/${a.id}` }, dateTime(a.created_at)) },
    { label: "Service", cell: (a) => named.service(a.service) },
    { label: "Country", cell: (a) => named.country(a.country) },
    { label: "Number", cell: (a) => phoneText(a.phone) },
    { label: "Code", cell: (a) => lastCode(a) || "—" },
    { label: "Status", cell: (a) => statusBadge(a.status) },
    { label: "Price", class: "num", cell: (a) => money(a.price_cents) },
    { label: "Again", cell: (a) => (canGetAgain(a) ? againButton(a, named) : null) },
  ], list, "Your numbers, newest first");
}
