// The user agreement: every version with its headings and what changed since the one before; the banner of a new
// version on every signed-in page (accept it, or decline and close the account in two clicks).

import { get, post, session } from "./api.js";
import { availableCents, confirmDialog, h, money, pageHeader, replace, toast } from "./ui.js";

export async function agreementPage(ctx) {
  const version = ctx.params.version || ctx.query.get("version");
  const [current, agreement] = await Promise.all([get("/v1/agreement"),
    version ? get(`/v1/agreement/${encodeURIComponent(version)}`) : null]);
  const shown = agreement || current;
  const others = (current.versions || []).filter((v) => v !== shown.version);
  replace(ctx.main,
    pageHeader("User agreement", h("span", { class: "muted" }, `Version ${shown.version}`)),
    h("p", { class: "muted", id: "agreement-status" }, statusText(shown, current)),
    changesSection(shown),
    h("article", { class: "card agreement-doc", id: "agreement-text" }, agreementBody(shown.blocks)),
    others.length ? h("nav", { "aria-label": "Other versions", class: "muted" }, "Other versions: ",
      others.map((v, i) => [i ? ", " : "", h("a", { href: `#/agreement/${encodeURIComponent(v)}` }, `version ${v}`)]))
      : null);
}

function statusText(shown, current) {
  if (shown.in_force) return "In force now.";
  if (current.upcoming && current.upcoming.version === shown.version) {
    return `Published; takes effect on ${shown.effective_on}. Using SMS Rooms from that day means accepting it.`;
  }
  return Number(shown.version) < Number(current.version) ? `Replaced by version ${current.version}.` : "";
}

// The text as headings, paragraphs and lists (blocks from the API): every word of it, none of it as markup.
export function agreementBody(blocks) {
  return (blocks || []).map((block) => {
    if (block.kind === "title") return h("h2", {}, block.text);
    if (block.kind === "heading") return h("h3", {}, block.text);
    if (block.kind === "list") return h("ul", {}, block.items.map((item) => h("li", {}, item)));
    return h("p", {}, block.text);
  });
}

function changesSection(agreement) {
  if (!agreement.previous_version) return null;
  const changes = agreement.changes || [];
  return h("section", { class: "card agreement-changes", id: "agreement-changes", "aria-labelledby": "changes-title" },
    h("h2", { id: "changes-title" }, `What changed since version ${agreement.previous_version}`),
    changes.length ? h("ul", {}, changes.map(changeItem)) : h("p", {}, "Nothing but its date."));
}

function changeItem(change) {
  const text = change.kind === "list" ? change.items.join("; ") : change.text;
  const mark = change.op === "added" ? h("ins", {}, text) : h("del", {}, text);
  return h("li", { class: `change ${change.op}` },
    h("span", { class: "change-op" }, change.op === "added" ? "Added: " : "Removed: "), mark,
    change.under ? h("span", { class: "muted" }, ` (in “${change.under}”)`) : null);
}

// Accept now, or decline: withdraw consent and close the account, the remaining balance requested back (6.3).
function agreementActions(ctx, pending) {
  const accept = h("button", { type: "button", class: "primary", id: "accept-agreement" },
    `Accept version ${pending.version}`);
  accept.addEventListener("click", async () => {
    accept.disabled = true;
    try {
      await post("/v1/account/accept-agreement", { version: pending.version });
      await ctx.refreshMe();  // the banner goes with the pending version
      toast(`Thank you: you accepted version ${pending.version}.`);
    } catch (error) {
      accept.disabled = false;
      accept.after(h("p", { class: "field-error" }, error.message));
    }
  });
  return [accept, " ", declineButton(ctx, pending)];
}

function declineButton(ctx, pending) {
  const button = h("button", { type: "button", class: "danger", id: "decline-agreement" },
    "Decline and close my account");
  button.addEventListener("click", async () => {
    const me = ctx.me || {};
    const available = availableCents(me);
    const body = `Your account closes now and we delete what we do not have to keep (12.3). ${available > 0
      ? `Your available ${money(available, me.currency)} is requested back to your cards; card fees are not refunded (6.3).`
      : "Nothing is left on your balance."}`;
    const yes = await confirmDialog({ title: `Decline version ${pending.version} and close your account?`, body,
      confirm: "Close my account", danger: true });
    if (!yes) return;
    try {
      await post("/v1/account/withdraw-consent", { refund_remaining: true });
    } catch (error) {
      button.after(h("p", { class: "field-error", role: "alert" }, error.message));
      return;
    }
    session.forget();
    ctx.navigate("/login?notice=closed");
  });
  return button;
}

// The banner every signed-in page shows from a version's publication until the account accepts it.
export function agreementBanner(me, ctx) {
  const pending = me && me.agreement_pending;
  if (!pending) return null;
  const link = h("a", { href: `#/agreement/${encodeURIComponent(pending.version)}` }, "Read what changes");
  const text = !pending.effective_on ? `Please read and accept the user agreement (version ${pending.version}). `
    : pending.in_force
    ? `Version ${pending.version} of the user agreement applies since ${pending.effective_on}: using SMS Rooms means you accept it. `
    : `Version ${pending.version} of the user agreement takes effect on ${pending.effective_on}; using SMS Rooms from then on means you accept it. `;
  const banner = h("div", { class: "banner info", id: "agreement-banner", role: "region",
    "aria-label": "New user agreement" }, text, link, ". ");
  banner.append(...agreementActions(ctx, pending));
  return banner;
}
