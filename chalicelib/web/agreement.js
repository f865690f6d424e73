// The user agreement: the current version for everyone, and accepting a new version for signed-in users.

import { get, post, session } from "./api.js";
import { h, notice, pageHeader, replace } from "./ui.js";

export async function agreementPage(ctx) {
  const version = ctx.query.get("version");
  const agreement = await get(version ? `/v1/agreement/${encodeURIComponent(version)}` : "/v1/agreement");
  const versions = Array.isArray(agreement.versions) ? agreement.versions : [];
  replace(ctx.main,
    pageHeader("User agreement", h("span", { class: "muted" }, `Version ${agreement.version}`)),
    acceptPanel(ctx, agreement),
    h("article", { class: "card" }, h("pre", { class: "agreement-text full" }, agreement.text)),
    versions.length > 1 ? h("p", { class: "muted" }, "Other versions: ", versions.filter((v) => v !== agreement.version)
      .map((v, i) => [i ? ", " : "", h("a", { href: `#/agreement?version=${encodeURIComponent(v)}` }, `version ${v}`)]))
      : null);
}

function acceptPanel(ctx, agreement) {
  const current = ctx.me && agreement.version === ctx.me.current_agreement_version;
  if (!session.token() || !current || !ctx.me.agreement_update_required) return null;
  const panel = notice("info", `You accepted version ${ctx.me.agreement_version}. Please read the changes below; `,
    "accepting lets you keep using the service.");
  const button = h("button", { type: "button", class: "primary", id: "accept-agreement" },
    `Accept version ${agreement.version}`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await post("/v1/account/accept-agreement", { version: agreement.version });
      await ctx.refreshMe();
      replace(panel, `Thank you: you accepted version ${agreement.version}.`);
    } catch (error) {
      button.disabled = false;
      panel.append(h("p", { class: "field-error" }, error.message));
    }
  });
  panel.append(" ", button);
  return panel;
}
