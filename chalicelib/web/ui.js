// Building blocks of the pages: elements, money and time formatting, forms with per-field errors, copy, dialogs.

// h("button", {class: "primary", onclick: fn}, "Save"): text is always set as text, never parsed as HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const SYMBOLS = { USD: "$", EUR: "€", GBP: "£" };

// 1234 → "$12.34", -50 → "−$0.50": integer arithmetic only, money never passes through a float.
export function money(cents, currency = "USD") {
  const value = Number.isInteger(cents) ? cents : 0;
  const abs = Math.abs(value);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = String(abs % 100).padStart(2, "0");
  const symbol = SYMBOLS[currency];
  const amount = symbol ? `${symbol}${whole}.${frac}` : `${whole}.${frac} ${currency}`;
  return value < 0 ? `−${amount}` : amount;
}

// What the account can spend now: a refund request holds part of the balance apart (held_cents), never spendable.
export const availableCents = (me) => (Number.isInteger(me.available_cents)
  ? me.available_cents : (me.balance_cents || 0) - (me.held_cents || 0));

// "$5.00 available · $20.00 held for a refund request": the balance as every page shows it.
export function balanceParts(me, id) {
  return [h("strong", { id }, money(availableCents(me), me.currency)), " available",
    me.held_cents > 0 ? h("span", { class: "held" }, ` · ${money(me.held_cents, me.currency)} held for a refund request`)
      : null];
}

// "10", "10.5", "$1,010.50" → cents; anything else → null.
export function parseAmount(text) {
  const match = String(text).trim().replace(/^\$/, "").replace(/,/g, "").match(/^(\d{1,7})(?:\.(\d{1,2}))?$/);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
}

export function dateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function secondsUntil(iso, slackMs = 0) {
  const at = iso ? new Date(iso).getTime() : NaN;
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at + slackMs - Date.now()) / 1000));
}

// 65 → "1:05", 3725 → "1:02:05"
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

let fieldSeq = 0;

// A labelled input with a hint and a slot for its error, wired with aria-describedby.
export function field({ label, name, type = "text", hint, control, ...attrs }) {
  const id = `f-${name}-${++fieldSeq}`;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const input = control || h(type === "textarea" ? "textarea" : "input", { type: type === "textarea" ? null : type });
  input.id = id;
  input.name = name;
  input.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) input.setAttribute(key, value === true ? "" : value);
  }
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    input,
    h("p", { class: "field-error", id: errorId, "data-error-for": name }));
}

// A form whose submit handler may throw ApiError: the message lands next to the field it names, or on top.
export function form(attrs, children, onSubmit) {
  const alert = h("div", { class: "form-alert", role: "alert", hidden: true });
  const el = h("form", { novalidate: true, ...attrs }, alert, children);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(el);
    if (!checkRequired(el)) return;
    const button = el.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    el.setAttribute("aria-busy", "true");
    try {
      await onSubmit(new FormData(el), el);
    } catch (error) {
      showError(el, error);
    } finally {
      if (button && button.isConnected) button.disabled = false;
      el.removeAttribute("aria-busy");
    }
  });
  return el;
}

// Every empty required field is named at once, in the words of its label, before any request is sent.
function checkRequired(formEl) {
  const invalid = [...formEl.querySelectorAll("input[required], textarea[required], select[required]")]
    .filter((input) => !input.disabled && !input.closest("[hidden]") && input.name && input.type !== "checkbox"
      && !String(input.value).trim());
  for (const input of invalid) {
    const message = `${labelOf(formEl, input)} is required.`;
    const slot = formEl.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
    if (slot) slot.textContent = message;
    input.setAttribute("aria-invalid", "true");
  }
  if (invalid.length) invalid[0].focus();
  return invalid.length === 0;
}

function labelOf(formEl, input) {
  const label = input.id ? formEl.querySelector(`label[for="${CSS.escape(input.id)}"]`) : null;
  return (label ? label.textContent : input.name).trim();
}

function showError(formEl, error) {
  const name = error.field;
  const slot = name ? formEl.querySelector(`[data-error-for="${CSS.escape(name)}"]`) : null;
  const input = name ? formEl.elements.namedItem(name) : null;
  if (slot) {
    // The API names its fields for programs ('subject'); people read the label they typed into.
    const label = input instanceof Element ? labelOf(formEl, input) : name;
    slot.textContent = String(error.message).replace(`'${name}'`, label);
    if (input instanceof Element) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    return;
  }
  const alert = formEl.querySelector(".form-alert");
  alert.textContent = error.message || String(error);
  alert.hidden = false;
}

function clearErrors(formEl) {
  formEl.querySelectorAll(".field-error").forEach((slot) => { slot.textContent = ""; });
  formEl.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  const alert = formEl.querySelector(".form-alert");
  if (alert) alert.hidden = true;
}

// A client-side check that reads like an API error, so it is shown the same way.
export function fieldError(field, message) {
  const error = new Error(message);
  error.field = field;
  return error;
}

export function copyButton(text, label) {
  const button = h("button", { type: "button", class: "copy", "aria-label": label }, "Copy");
  button.addEventListener("click", async () => {
    const value = typeof text === "function" ? text() : text;
    await copyText(value);
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return button;
}

async function copyText(value) {
  try {
    await navigator.clipboard.writeText(value);
  } catch {
    // Older browsers and non-secure origins have no clipboard API: copy through a selected textarea.
    const area = h("textarea", { class: "offscreen", readonly: true }, value);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

// A modal yes/no question on a native <dialog> (focus trapped, Esc cancels).
export function confirmDialog({ title, body, confirm, danger = false }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "dialog-title" }, title),
        h("p", {}, body),
        h("div", { class: "actions" },
          h("button", { value: "cancel", class: "secondary" }, "Go back"),
          h("button", { value: "ok", class: danger ? "danger" : "primary" }, confirm))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function pageHeader(title, ...extra) {
  return h("div", { class: "page-header" }, h("h1", { tabindex: "-1" }, title), extra);
}

export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, children);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

export function empty(text, action) {
  return h("div", { class: "empty" }, h("p", {}, text), action || null);
}

// columns: [{label, cell: row => node|string, class?}]. On phones the rows become labelled cards (CSS),
// or, with a `kind` that styles.css lays out ("prices", "offers"), compact rows.
export function table(columns, rows, caption, kind) {
  return h("div", { class: "table-wrap" },
    h("table", { class: kind ? `responsive compact ${kind}` : "responsive" },
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      // A column of buttons has no visible heading; screen readers still hear one (no empty header cells).
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class },
        c.label || h("span", { class: "visually-hidden" }, c.hiddenLabel || "Actions"))))),
      h("tbody", {}, rows.map((row) => h("tr", {},
        columns.map((c) => h("td", { "data-label": c.label, class: c.class }, c.cell(row))))))));
}

export const STATUS_TEXT = {
  PENDING: "Getting a number", WAITING: "Waiting for SMS", RECEIVED: "Code received", RETRY: "Waiting for another SMS",
  FINISHED: "Finished", CANCELED: "Canceled", TIMEOUT: "Timed out", BANNED: "Reported", REVOKED: "Revoked",
  FAILED: "Failed",
};
const STATUS_TONE = {
  PENDING: "info", WAITING: "info", RETRY: "info", RECEIVED: "good", FINISHED: "good",
  CANCELED: "muted", TIMEOUT: "muted", BANNED: "warn", REVOKED: "warn", FAILED: "bad",
};

export function statusBadge(status) {
  return h("span", { class: `badge ${STATUS_TONE[status] || "muted"}`, "data-status": status },
    STATUS_TEXT[status] || status);
}

export function toast(message) {
  const region = document.getElementById("toasts");
  const item = h("div", { class: "toast", role: "status" }, message);
  region.append(item);
  setTimeout(() => item.remove(), 4000);
}
