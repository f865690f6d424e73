// The account's own security: change the password (the revoke-keys choice included), and the signed-in sessions.

import { del, get, items, post, session } from "./api.js";
import { securityCode } from "./twofactor.js";
import { confirmDialog, dateTime, empty, field, form, h, notice, replace, table, toast } from "./ui.js";

// "Also revoke every API key", checked unless the owner unticks it: the choice a reset and a change both offer.
export function revokeKeysChoice(id) {
  const box = h("input", { type: "checkbox", name: "revoke_api_keys", id, checked: true });
  return {
    box,
    row: h("div", { class: "field checkbox" }, box,
      h("label", { for: id }, "Also revoke every API key (recommended if someone may know your password). "
        + "Bots using them stop working until you give them new keys.")),
  };
}

export function changePasswordForm(ctx, onChanged) {
  const keys = revokeKeysChoice("change-revoke-keys");
  const code = securityCode();
  const done = h("div", { "aria-live": "polite" });
  const changeForm = form({ class: "card narrow", id: "change-password", "aria-labelledby": "password-title" }, [
    h("h2", { id: "password-title" }, "Password"),
    field({ label: "Current password", name: "current_password", type: "password",
      autocomplete: "current-password", required: true }),
    field({ label: "New password", name: "new_password", type: "password", autocomplete: "new-password",
      required: true, hint: "8 to 128 characters. Every other browser where you are signed in is signed out." }),
    keys.row,
    code.row,
    h("button", { type: "submit", class: "primary" }, "Change the password"),
    done,
  ], async (data, el) => {
    const reply = await code.send({ current_password: data.get("current_password"),
      new_password: data.get("new_password"), revoke_api_keys: keys.box.checked },
    (body) => post("/v1/auth/change-password", body));
    session.signIn(reply.token);
    el.reset();
    keys.box.checked = true;
    replace(done, notice("success", "Your password is changed and every other session was signed out.",
      reply.api_keys_revoked ? " Your API keys were revoked: create new ones for your bots." : ""));
    toast("Password changed.");
    await onChanged();
  });
  return changeForm;
}

export function sessionsSection(ctx) {
  const listing = h("div");
  const problem = h("div", { "aria-live": "polite" });
  const section = h("section", { class: "card", id: "sessions", "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title" }, "Where you are signed in"),
    h("p", { class: "muted" }, "Sign out any session you do not recognise, then change your password."),
    problem, listing);
  const revoke = async (s) => {
    const ok = await confirmDialog({ title: s.current ? "Sign out of this browser?" : "Sign this session out?",
      body: `${s.device || "Unknown device"} at ${s.ip || "an unknown IP"} stops being signed in at once.`,
      confirm: "Sign it out", danger: true });
    if (!ok) return;
    try {
      await del(`/v1/sessions/${encodeURIComponent(s.session_id)}`);
    } catch (error) {
      replace(problem, notice("error", error.message, error.code === "REAUTHENTICATION_REQUIRED"
        ? h("span", {}, " ", h("a", { href: "#/login" }, "Sign in again")) : ""));
      return;
    }
    if (s.current) {
      session.forget();
      ctx.navigate("/login");
      return;
    }
    toast("Session signed out.");
    await show();
  };
  const show = async () => {
    replace(problem);
    const sessions = items(await get("/v1/sessions"));
    replace(listing, sessions.length ? table([
      { label: "Device", cell: (s) => h("span", { class: "device" }, s.device || "Unknown device",
        s.current ? h("span", { class: "badge good" }, "this browser") : null) },
      { label: "IP address", cell: (s) => s.ip || "" },
      { label: "Signed in", cell: (s) => dateTime(s.created_at) },
      { label: "Last seen", cell: (s) => (s.last_seen_at ? dateTime(s.last_seen_at) : "") },
      { label: "", class: "action", cell: (s) => h("button", { type: "button", class: "link danger",
        "data-session": s.session_id, onclick: () => revoke(s) }, "Sign out") },
    ], sessions, "Where you are signed in") : empty("No session is signed in."));
  };
  return { section, show };
}
