// Rentals: rent a number for hours to weeks, watch every SMS arrive on it, extend, finish or cancel it.

import { get, items, post } from "./api.js";
import { names } from "./catalog.js";
import {
  clock, confirmDialog, copyButton, dateTime, empty, field, form, h, loading, money, notice, pageHeader, replace,
  secondsUntil, table, toast,
} from "./ui.js";

const POLL_MS = 2000;
const SMS_PAGE = 100;
const ANY_SERVICE = "full";
const DURATIONS = [[4, "4 hours"], [12, "12 hours"], [24, "1 day"], [72, "3 days"], [168, "1 week"],
  [336, "2 weeks"], [672, "4 weeks"]];
const EXTENSIONS = [[4, "4 hours"], [24, "1 day"], [168, "1 week"]];
const STATUS = { PENDING: "Getting a number", ACTIVE: "Active", FINISHED: "Finished", CANCELED: "Canceled (refunded)",
  EXPIRED: "Ended", FAILED: "Failed (refunded)" };
const TONE = { PENDING: "info", ACTIVE: "good", FINISHED: "muted", CANCELED: "muted", EXPIRED: "muted", FAILED: "bad" };
const phoneText = (digits) => (digits ? `+${digits}` : "");
const badge = (status) => h("span", { class: `badge ${TONE[status] || "muted"}`, "data-status": status },
  STATUS[status] || status);
const serviceLabel = (named, code) => (code === ANY_SERVICE ? "Any service" : named.service(code));

export async function rentalsPage(ctx) {
  replace(ctx.main, pageHeader("Rentals"), loading());
  const [named, services, countries, rentals] = await Promise.all([names(), get("/v1/services"),
    get("/v1/countries"), get("/v1/rentals?limit=50")]);
  const price = h("p", { class: "muted", id: "rent-price", "aria-live": "polite" });
  const terms = h("p", { class: "muted", id: "rent-terms" }, "A rented number receives every SMS sent to it until its "
    + "time ends; you can finish it early.");
  const select = (name, label, options, chosen) => field({ label, name, control: h("select", {},
    options.map(([value, text]) => h("option", { value, selected: String(value) === String(chosen) || null }, text))) });
  const rentForm = form({ class: "card", id: "rent-form" }, [
    h("h2", {}, "Rent a number"),
    terms,
    select("service", "Service", [[ANY_SERVICE, "Any service"], ...items(services).map((s) => [s.code, s.name])],
      ctx.query.get("service") || "tg"),
    select("country", "Country", items(countries).map((c) => [c.id, c.name]), ctx.query.get("country") || "0"),
    select("hours", "For", DURATIONS, 24),
    price,
    h("button", { type: "submit", class: "primary" }, "Rent"),
  ], async (data) => {
    const rental = await post("/v1/rentals", { service: data.get("service"), country: Number(data.get("country")),
      hours: Number(data.get("hours")) });
    ctx.refreshMe();
    ctx.navigate(`/rental/${rental.id}`);
  });
  const showPrice = async () => {
    const data = new FormData(rentForm);
    replace(price, "Asking for the price…");
    try {
      const list = await get(`/v1/rentals/prices?country=${encodeURIComponent(data.get("country"))}`
        + `&hours=${encodeURIComponent(data.get("hours"))}`);
      const offer = items(list).find((o) => o.service === data.get("service"));
      const minutes = Math.floor(list.cancel_refund_seconds / 60);
      replace(terms, "A rented number receives every SMS sent to it until its time ends. ", minutes > 0
        ? `Canceled within ${minutes} minutes and before any SMS, it is refunded in full; after that you can finish `
          + "it early (no refund)." : "Rentals are not refundable once the number is issued; you can finish one early.");
      replace(price, offer && offer.available > 0 ? `Price: ${money(offer.price_cents, ctx.me?.currency)}`
        : "No number to rent for this service and country right now.");
    } catch (error) {
      replace(price, error.message);
    }
  };
  rentForm.addEventListener("change", showPrice);
  replace(ctx.main, pageHeader("Rentals"), rentForm, h("h2", {}, "Your rentals"),
    items(rentals).length ? rentalTable(items(rentals), named) : empty("You have not rented a number yet."));
  await showPrice();
}

function rentalTable(list, named) {
  return table([
    { label: "Rented", cell: (r) => h("a", { href: `#/rental/${r.id}` }, dateTime(r.created_at)) },
    { label: "Service", cell: (r) => serviceLabel(named, r.service) },
    { label: "Country", cell: (r) => named.country(r.country) },
    { label: "Number", cell: (r) => phoneText(r.phone) },
    { label: "SMS", class: "num", cell: (r) => String(r.sms_count) },
    { label: "Ends", cell: (r) => dateTime(r.ends_at) },
    { label: "Status", cell: (r) => badge(r.status) },
    { label: "Price", class: "num", cell: (r) => money(r.price_cents) },
  ], list, "Your rentals, newest first", "rentals");
}

export async function rentalPage(ctx) {
  const id = encodeURIComponent(ctx.params.id);
  replace(ctx.main, pageHeader("Rented number"), loading());
  const [first, named, firstSms] = await Promise.all([get(`/v1/rentals/${id}`), names(),
    get(`/v1/rentals/${id}/sms?limit=${SMS_PAGE}`)]);
  let rental = first;
  let after = firstSms.next_after;
  const sms = [...items(firstSms)];
  const message = h("div", { "aria-live": "assertive" });
  const title = h("h2", {});
  const status = h("div", { class: "status-line" });
  const phone = h("div", { class: "big-value", id: "phone" });
  const timers = h("dl", { class: "timers" });
  const smsList = h("ol", { class: "sms-list", id: "rental-sms", "aria-live": "polite", reversed: true });
  const actions = h("div", { class: "actions" });
  const hours = h("select", { "aria-label": "Extend by" }, EXTENSIONS.map(([v, t]) => h("option", { value: v }, t)));

  const act = async (path, body, confirmation) => {
    if (confirmation && !(await confirmDialog(confirmation))) return;
    replace(message);
    try {
      rental = await post(`/v1/rentals/${id}/${path}`, body);
      draw();
      ctx.refreshMe();
    } catch (error) {
      replace(message, notice("error", error.message));
    }
  };
  const extend = async () => {
    replace(message);
    try {
      const quote = await get(`/v1/rentals/${id}/extension-price?hours=${hours.value}`);
      await act("extend", { hours: Number(hours.value) }, { title: "Extend this rental?",
        body: `It runs ${hours.selectedOptions[0].textContent} longer for ${money(quote.price_cents, ctx.me?.currency)}.`,
        confirm: "Extend" });
    } catch (error) {
      replace(message, notice("error", error.message));
    }
  };
  const buttons = {
    extend: h("span", { class: "inline-group" }, hours,
      h("button", { type: "button", class: "primary", onclick: extend }, "Extend")),
    finish: h("button", { type: "button", class: "secondary", onclick: () => act("finish", undefined, {
      title: "Finish this rental now?", body: "The number stops receiving SMS. Finishing early refunds nothing.",
      confirm: "Finish the rental", danger: true }) }, "Finish"),
    cancel: h("button", { type: "button", class: "secondary", id: "cancel-button", onclick: () => act("cancel", undefined, {
      title: "Cancel this rental?", body: "The number is released and everything you paid goes back to your balance.",
      confirm: "Cancel the rental", danger: true }) }, "Cancel (full refund)"),
  };

  const drawSms = () => replace(smsList, sms.length ? sms.slice().reverse().map((m) => h("li", { class: "sms" },
    h("p", { class: "sms-text" }, m.text),
    h("p", { class: "muted small" }, [m.sender, m.code ? `code ${m.code}` : null, dateTime(m.received_at)]
      .filter(Boolean).join(" · ")))) : h("li", { class: "muted" }, rental.status === "ACTIVE"
    ? "No SMS yet: they show here as they arrive." : "No SMS arrived on this number."));
  const tick = () => {
    const active = rental.status === "ACTIVE";
    const ends = active ? secondsUntil(rental.ends_at) : null;
    const refundable = active && rental.cancel_refund_until ? secondsUntil(rental.cancel_refund_until) : null;
    buttons.cancel.hidden = !refundable;
    replace(timers, ends !== null ? [h("dt", {}, "Ends in"), h("dd", { id: "ends-timer" }, clock(ends))] : null,
      refundable ? [h("dt", {}, "Cancel with refund for"), h("dd", {}, clock(refundable))] : null);
  };
  const draw = () => {
    replace(title, `${serviceLabel(named, rental.service)} · ${named.country(rental.country)}`);
    replace(status, badge(rental.status), h("span", { class: "muted" },
      ` ${money(rental.price_cents)} · ${rental.hours} hours · until ${dateTime(rental.ends_at)}`));
    replace(phone, phoneText(rental.phone) || h("span", { class: "muted" }, "Getting a number…"));
    replace(actions, rental.status === "ACTIVE" ? [buttons.extend, buttons.finish, buttons.cancel] : null);
    drawSms();
    tick();
  };
  replace(ctx.main, pageHeader("Rented number", h("a", { href: "#/rentals" }, "All rentals")), message,
    h("section", { class: "card" }, title, status,
      h("div", { class: "value-row" }, h("div", {}, h("p", { class: "label" }, "Number"), phone),
        copyButton(() => String(rental.phone || ""), "Copy the number")),
      timers, actions, h("h3", {}, "SMS"), smsList));
  draw();

  const poll = setInterval(async () => {
    if (rental.status !== "ACTIVE") return;
    try {
      const page = await get(`/v1/rentals/${id}/sms?after=${after}&limit=${SMS_PAGE}`);
      const fresh = items(page);
      after = page.next_after;
      if (fresh.length) {
        sms.push(...fresh);
        toast(fresh.length === 1 ? "A new SMS has arrived." : `${fresh.length} new SMS have arrived.`);
      }
      if (page.status !== rental.status || fresh.length) rental = await get(`/v1/rentals/${id}`);
      draw();
    } catch {
      // A missed poll is retried two seconds later; the page keeps what it has.
    }
  }, POLL_MS);
  const ticking = setInterval(tick, 1000);
  ctx.onLeave(() => { clearInterval(poll); clearInterval(ticking); });
}
