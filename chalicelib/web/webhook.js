// The webhook page: where events go, which ones, the signing secret, and the delivery log with redelivery.

import { del, get, items, post, put } from "./api.js";
import { copyButton, dateTime, empty, field, form, h, notice, replace, table, toast, pageHeader } from "./ui.js";
import { securityCode } from "./twofactor.js";

// The event types a webhook can take (domain/webhook_events.py), in the words the page shows them in.
const EVENTS = [
  { name: "sms.received", label: "An SMS arrived", hint: "the code and the text, as soon as we have them" },
  { name: "activation.status_changed", label: "A number changed status",
    hint: "issued, canceled, timed out, finished, reported, revoked, failed (with what was refunded)" },
  { name: "balance.changed", label: "The balance changed", hint: "top-ups, charges, refunds, forfeiture" },
  { name: "rental.sms_received", label: "A rented number got an SMS", hint: "for rentals" },
];
const DELIVERY_TONE = { pending: "info", delivered: "good", failed: "bad", skipped: "muted" };
const DELIVERY_TEXT = { pending: "Retrying", delivered: "Delivered", failed: "Failed", skipped: "Skipped" };

function eventChoices(chosen) {
  return h("fieldset", { class: "scopes" }, h("legend", {}, "Send me these events"),
    EVENTS.map((e) => h("div", { class: "field checkbox" },
      h("input", { type: "checkbox", name: "events", value: e.name, id: `event-${e.name}`,
        checked: chosen.includes(e.name) }),
      h("label", { for: `event-${e.name}` }, h("strong", {}, e.label), ` — ${e.hint} (`, h("code", {}, e.name), ")"))),
    h("p", { class: "field-error", "data-error-for": "events" }));
}

function answerOf(d) {
  if (d.last_status_code) return `HTTP ${d.last_status_code}`;
  return d.last_error || "";
}

function deliveryLog() {
  const body = h("div", { id: "delivery-log" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show older deliveries");
  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
  let rows = [];
  let cursor = null;
  const logTable = () => {
    // Wider than a phone: the wrapper scrolls, so it takes focus and names itself for keyboard users.
    const wrap = table(COLUMNS, rows, "Webhook deliveries, newest first");
    wrap.tabIndex = 0;
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", "Webhook deliveries");
    return wrap;
  };
  const COLUMNS = [
    { label: "Event", cell: (d) => h("span", {}, h("code", {}, d.event),
      d.stream ? h("span", { class: "muted" }, ` ${d.stream}${d.sequence ? ` #${d.sequence}` : ""}`) : null) },
    { label: "Status", cell: (d) => h("span", { class: `badge ${DELIVERY_TONE[d.status] || "muted"}`,
      "data-delivery-status": d.status }, DELIVERY_TEXT[d.status] || d.status) },
    { label: "Attempts", cell: (d) => String(d.attempts) },
    { label: "Answer", cell: (d) => answerOf(d) },
    { label: "Queued", cell: (d) => dateTime(d.created_at) },
    { label: "Action", class: "action", cell: (d) => (d.status === "pending" ? h("span", { class: "muted" },
      d.next_attempt_at ? `next try ${dateTime(d.next_attempt_at)}` : "")
      : h("button", { type: "button", class: "link", "data-redeliver": d.delivery_id,
        onclick: () => redeliver(d) }, `Redeliver ${d.event}`)) },
  ];
  const render = () => replace(body, rows.length ? logTable()
    : empty("Nothing was sent to your webhook in the last 7 days."));
  const load = async (again) => {
    if (again) { rows = []; cursor = null; }
    const data = await get(cursor ? `/v1/webhook/deliveries?cursor=${encodeURIComponent(cursor)}`
      : "/v1/webhook/deliveries");
    rows = rows.concat(items(data));
    cursor = (data && data.next_cursor) || null;
    render();
    more.hidden = !cursor;
  };
  const failed = (error) => body.append(notice("error", error.message));
  const redeliver = async (d) => {
    try {
      await post(`/v1/webhook/deliveries/${encodeURIComponent(d.delivery_id)}/redeliver`, {});
      toast(`Sent again: ${d.event} (${d.event_id || d.delivery_id}).`);
      await load(true);
    } catch (error) {
      failed(error);
    }
  };
  more.addEventListener("click", () => load(false).catch(failed));
  refresh.addEventListener("click", () => load(true).catch(failed));
  const section = h("section", { class: "card", "aria-labelledby": "deliveries-title" },
    h("h2", { id: "deliveries-title" }, "Deliveries"),
    h("p", { class: "hint" }, "What we sent, and what your server answered. Failed ones are retried with growing "
      + "pauses; a redelivery sends the same event again (same ", h("code", {}, "event_id"), ")."),
    h("div", { class: "actions" }, refresh), body, more);
  return { section, load };
}

export async function webhookPage(ctx) {
  const current = await get("/v1/webhook");
  const secret = h("div");
  const showSecret = (value) => replace(secret, value ? h("div", { class: "value-row plain" },
    h("div", {}, h("p", { class: "label" }, "Signing secret"), h("code", { id: "webhook-secret", class: "ref" }, value)),
    copyButton(value, "Copy the signing secret")) : null);
  const rotate = h("input", { type: "checkbox", name: "rotate_secret", id: "rotate-secret" });
  const remove = h("button", { type: "button", class: "link danger", hidden: !current.url }, "Remove the webhook");
  const code = securityCode();
  const log = deliveryLog();
  const hookForm = form({ class: "card narrow", "aria-label": "Webhook" }, [
    field({ label: "Webhook URL", name: "url", type: "url", placeholder: "https://example.com/sms-hook",
      value: current.url || "", hint: "We POST a signed JSON event here, and retry until you answer 2xx." }),
    eventChoices(current.events || ["sms.received", "rental.sms_received"]),
    current.secret ? h("div", { class: "field checkbox" }, rotate,
      h("label", { for: "rotate-secret" }, "Make a new signing secret (the old one stops working)")) : null,
    code.row,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save"), remove),
    secret,
  ], async (data) => {
    const events = data.getAll("events");
    if (!events.length) {
      const error = new Error("Choose at least one event to send.");
      error.field = "events";
      throw error;
    }
    const reply = await code.send({ url: String(data.get("url")).trim(), rotate_secret: rotate.checked, events },
      (body) => put("/v1/webhook", body));
    rotate.checked = false;
    remove.hidden = false;
    showSecret(reply.secret);
    toast("Webhook saved.");
  });
  remove.addEventListener("click", async () => {
    try {
      await code.send({}, (body) => del("/v1/webhook", body));
    } catch (error) {
      hookForm.querySelector(".form-alert").hidden = false;
      hookForm.querySelector(".form-alert").textContent = error.message;
      return;
    }
    hookForm.reset();
    hookForm.elements.namedItem("url").value = "";
    remove.hidden = true;
    showSecret(null);
    toast("Webhook removed.");
  });
  showSecret(current.secret);
  await log.load(true);
  replace(ctx.main, pageHeader("Webhook"),
    h("p", { class: "lead" }, "Get events pushed to your server as they happen. Every event is signed: the ",
      h("code", {}, "X-SmsRooms-Signature"), " header is the hex HMAC-SHA256 of the raw body with your signing "
      + "secret; ", h("code", {}, "X-SmsRooms-Event-Id"), " is the same for every delivery of one event."),
    hookForm, log.section);
}
