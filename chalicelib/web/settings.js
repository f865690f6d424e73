// API keys and the account page (password, sessions, activity, report unauthorized access,
// withdraw consent).

import { del, get, items, post, serviceUrl, session } from "./api.js";
import {
  confirmDialog, copyButton, dateTime, empty, field, form, h, money, notice, pageHeader, replace, table,
} from "./ui.js";
import { balanceParts } from "./ui.js";
import { changePasswordForm, sessionsSection } from "./security.js";
import { securityCode, twoFactorSection } from "./twofactor.js";

// A secret shown once, with a copy button and the warning that it will not be shown again.
function secretBox(label, value, id) {
  const input = h("input", { type: "text", readonly: true, value, id, class: "secret", "aria-label": label });
  return h("div", { class: "secret-box" },
    h("p", {}, h("strong", {}, label), ": copy it now, it will not be shown again."),
    h("div", { class: "value-row" }, input, copyButton(value, `Copy the ${label.toLowerCase()}`)));
}

const ACTIVITY = {
  registered: "Account created", email_verified: "Email confirmed", sign_in: "Signed in",
  sign_in_failed: "Failed sign-in attempt", sign_out: "Signed out", sign_out_everywhere: "Signed out everywhere",
  password_reset: "Password changed", api_key_created: "API key created", api_key_revoked: "API key revoked",
  unauthorized_access_reported: "Unauthorized access reported", consent_withdrawn: "Consent withdrawn",
  agreement_accepted: "Agreement accepted", webhook_changed: "Webhook changed", password_changed: "Password changed",
  session_revoked: "Session signed out", registration_attempted: "Someone tried to register with your email",
  card_refund_failed: "Card refund failed, amount back on the balance",
  two_factor_enabled: "Two-factor sign-in turned on", two_factor_disabled: "Two-factor sign-in turned off",
  recovery_codes_regenerated: "New recovery codes made", recovery_code_used: "Recovery code used",
};


// What a key may do (domain/scopes.py): a bot's key needs only orders; account can redirect the webhook's codes.
const SCOPES = [
  { name: "orders", label: "Orders", hint: "order numbers, cancel or finish them, read activations and the balance" },
  { name: "read", label: "Read only", hint: "read activations, the balance, payments and activity" },
  { name: "account", label: "Account", hint: "manage API keys and the SMS webhook, sign out everywhere: "
    + "only for your own tools, never for a bot" },
];

function scopeChoices() {
  return h("fieldset", { class: "scopes" }, h("legend", {}, "What the key may do"),
    SCOPES.map((s) => h("div", { class: "field checkbox" },
      h("input", { type: "checkbox", name: "scopes", value: s.name, id: `scope-${s.name}`,
        checked: s.name === "orders" }),
      h("label", { for: `scope-${s.name}` }, h("strong", {}, s.label), ` — ${s.hint}`))),
    h("p", { class: "field-error", "data-error-for": "scopes" }));
}

function scopeBadges(key) {
  return h("span", { class: "scope-list" },
    (key.scopes || ["orders"]).map((name) => h("span", { class: `badge ${name === "account" ? "warn" : "info"}` },
      name)));
}

export async function apiKeysPage(ctx) {
  const created = h("div", { "aria-live": "polite" });
  const listing = h("div");
  const showKeys = async () => {
    const keys = items(await get("/v1/api-keys"));
    replace(listing, keys.length ? table([
      { label: "Name", cell: (k) => k.label || h("span", { class: "muted" }, "unnamed") },
      { label: "Key id", cell: (k) => h("code", { class: "ref" }, k.key_id) },
      { label: "Scopes", cell: (k) => scopeBadges(k) },
      { label: "Created", cell: (k) => dateTime(k.created_at) },
      { label: "Last used", cell: (k) => (k.last_used_at ? dateTime(k.last_used_at) : "never") },
      { label: "", class: "action", cell: (k) => h("button", { type: "button", class: "link danger",
        onclick: () => revoke(k) }, "Revoke") },
    ], keys, "Your API keys") : empty("You have no API key yet."));
  };
  const revoke = async (key) => {
    const ok = await confirmDialog({ title: `Revoke ${key.label ? `"${key.label}"` : "this key"}?`,
      body: "Bots using it stop working at once. This cannot be undone.",
      confirm: "Revoke the key", danger: true });
    if (!ok) return;
    await del(`/v1/api-keys/${encodeURIComponent(key.key_id)}`);
    await showKeys();
  };
  const code = securityCode();  // a key with the account scope is a security change
  const createForm = form({ class: "inline-form", "aria-label": "Create an API key" }, [
    field({ label: "Name (optional)", name: "label", maxlength: "100", placeholder: "e.g. my Telegram bot" }),
    scopeChoices(),
    code.row,
    h("button", { type: "submit", class: "primary", id: "create-key" }, "Create an API key"),
  ], async (data, el) => {
    const label = String(data.get("label")).trim();
    const body = { scopes: data.getAll("scopes"), ...(label ? { label } : {}) };
    const reply = await code.send(body, (sent) => post("/v1/api-keys", sent));
    el.reset();
    replace(created, secretBox("API key", reply.api_key, "new-api-key"), usage(reply.api_key));
    await showKeys();
  });
  replace(ctx.main, pageHeader("API keys"),
    h("p", { class: "lead" }, "Bots use an API key with the REST API (", h("code", {}, "Authorization: Bearer <key>"),
      ") or with SMS-Activate-compatible clients (", h("code", {}, "api_key=<key>"), "). We store only a hash of it."),
    h("section", { class: "card" }, createForm, created), listing);
  await showKeys();
}

function usage(key) {
  const base = serviceUrl("/").replace(/\/$/, "");
  // A scrollable box must take keyboard focus, or keyboard users cannot scroll to the end of the lines.
  return h("div", { class: "usage" }, h("p", { class: "label", id: "try-it-label" }, "Try it"),
    h("pre", { tabindex: "0", role: "region", "aria-labelledby": "try-it-label" }, `curl -H "Authorization: Bearer ${key}" ${base}/v1/me\n`
      + `curl "${base}/stubs/handler_api.php?api_key=${key}&action=getBalance"`));
}

export async function accountPage(ctx) {
  const me = ctx.me || {};
  const activity = items(await get("/v1/activity"));
  const sessions = sessionsSection(ctx);
  const twoFactor = twoFactorSection();
  await Promise.all([sessions.show(), twoFactor.show()]);
  replace(ctx.main, pageHeader("Account"),
    h("section", { class: "card" },
      h("dl", { class: "facts" },
        h("dt", {}, "Email"), h("dd", {}, me.email),
        h("dt", {}, "Status"), h("dd", {}, me.status),
        h("dt", {}, "Balance"), h("dd", { id: "account-balance" }, balanceParts(me)),
        h("dt", {}, "Agreement"), h("dd", {}, `version ${me.agreement_version} `, h("a", { href: "#/agreement" }, "read")),
        h("dt", {}, "Account id"), h("dd", {}, h("code", {}, me.account_id)))),
    changePasswordForm(ctx, sessions.show),
    twoFactor.section,
    sessions.section,
    h("section", { "aria-labelledby": "activity-title" },
      h("h2", { id: "activity-title" }, "Recent activity"),
      activity.length ? table([
        { label: "When", cell: (a) => dateTime(a.created_at) },
        { label: "What", cell: (a) => ACTIVITY[a.kind] || String(a.kind || "").replace(/_/g, " ") },
        { label: "IP address", cell: (a) => a.ip || "" },
      ], activity.slice(0, 50), "Recent activity") : empty("No activity recorded yet.")),
    h("section", { class: "card danger-zone", "aria-labelledby": "danger-title" },
      h("h2", { id: "danger-title" }, "Security and leaving"),
      signOutEverywhere(ctx),
      dangerAction(ctx, {
        id: "report-unauthorized",
        title: "Someone else used my account",
        text: "Locks the account at once and signs out every session and API key. We email you a link to choose a new password, which unlocks it.",
        button: "Lock my account",
        path: "/v1/account/report-unauthorized",
        done: "locked",
      }),
      dangerAction(ctx, {
        id: "withdraw-consent",
        title: "Withdraw consent and close the account",
        text: me.balance_cents > 0
          ? `You still have ${money(me.balance_cents, me.currency)}. Ask for a refund first: closing the account does not pay it out.`
          : "Closes the account and deletes what we do not have to keep. This cannot be undone.",
        button: "Close my account",
        path: "/v1/account/withdraw-consent",
        done: "closed",
        extra: me.balance_cents > 0 ? h("a", { href: "#/refund", class: "button secondary" }, "Request a refund") : null,
      })));
}

function signOutEverywhere(ctx) {
  const button = h("button", { type: "button", class: "secondary", id: "logout-all" }, "Sign out everywhere");
  button.addEventListener("click", async () => {
    await post("/v1/auth/logout-all");
    session.forget();
    ctx.navigate("/login");
  });
  return h("div", { class: "danger-action" }, h("h3", {}, "Sessions"),
    h("p", {}, "Signs out every browser where you are signed in, this one too. API keys keep working."),
    h("div", { class: "actions" }, button));
}

function dangerAction(ctx, { id, title, text, button, path, done, extra }) {
  const action = h("button", { type: "button", class: "danger", id }, button);
  const box = h("div", { class: "danger-action" }, h("h3", {}, title), h("p", {}, text),
    h("div", { class: "actions" }, extra, action));
  action.addEventListener("click", async () => {
    if (!(await confirmDialog({ title: `${title}?`, body: text, confirm: button, danger: true }))) return;
    try {
      await post(path);
    } catch (error) {
      box.append(notice("error", error.message));
      return;
    }
    session.forget();
    ctx.navigate(`/login?notice=${done}`);
  });
  return box;
}
