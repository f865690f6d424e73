// Register (accepting the agreement), verify the email, sign in, and reset a forgotten password.

import { agreementBody } from "./agreement.js";
import { get, post, session } from "./api.js";
import { revokeKeysChoice } from "./security.js";
import { loginCodeForm, securityCode } from "./twofactor.js";
import { field, fieldError, form, h, notice, pageHeader, replace } from "./ui.js";

export async function registerPage(ctx) {
  const agreement = await get("/v1/agreement");
  const done = h("div");
  const accept = h("input", { type: "checkbox", name: "accept", id: "accept-agreement" });
  const registerForm = form({ class: "card narrow", "aria-label": "Create an account" }, [
    field({ label: "Email", name: "email", type: "email", autocomplete: "email", required: true }),
    field({ label: "Password", name: "password", type: "password", autocomplete: "new-password", required: true,
      hint: "8 to 128 characters. A long passphrase is easiest to remember." }),
    h("details", { class: "agreement-box" },
      h("summary", {}, `Read the user agreement (version ${agreement.version})`),
      h("div", { class: "agreement-text", tabindex: "0", role: "region", "aria-label": "User agreement" },
        agreementBody(agreement.blocks))),
    h("div", { class: "field checkbox" },
      accept,
      h("label", { for: "accept-agreement" }, `I have read and accept the user agreement, version ${agreement.version}.`),
      h("p", { class: "field-error", "data-error-for": "accept" }),
      h("p", { class: "field-error", "data-error-for": "agreement_version" })),
    h("button", { type: "submit", class: "primary wide" }, "Create account"),
    h("p", { class: "muted center" }, "Already registered? ", h("a", { href: "#/login" }, "Sign in")),
  ], async (data) => {
    if (!accept.checked) throw fieldError("accept", "Please read and accept the agreement to continue.");
    const email = String(data.get("email")).trim();
    await post("/v1/auth/register", { email, password: data.get("password"), agreement_version: agreement.version });
    const again = h("button", { type: "button", class: "link" }, "Send it again");
    again.addEventListener("click", async () => {
      again.disabled = true;
      await post("/v1/auth/resend-verification", { email }).catch(() => {});
      again.replaceWith("Sent again.");
    });
    replace(done, notice("success", h("strong", {}, "Check your inbox. "),
      `We sent a link to ${email}. Open it to confirm your address, then sign in. No email? `, again));
    registerForm.replaceWith(done);
  });
  replace(ctx.main, pageHeader("Create an account"),
    h("p", { class: "lead" }, "Rent a temporary number, receive the verification SMS, pay only for what you use."),
    registerForm);
}

export async function verifyPage(ctx) {
  const token = ctx.query.get("token");
  replace(ctx.main, pageHeader("Verify your email"));
  if (!token) {
    ctx.main.append(notice("error", "This link has no token. Open the link from the email exactly as it was sent."));
    return;
  }
  const status = h("p", { class: "loading", role: "status" }, "Confirming your address…");
  ctx.main.append(status);
  try {
    await post("/v1/auth/verify", { token });
  } catch (error) {
    status.replaceWith(notice("error", error.message,
      " ", h("a", { href: "#/login" }, "Sign in"), " to ask for a new link."));
    return;
  }
  const next = session.token() ? h("a", { href: "#/dashboard", class: "button primary" }, "Go to the dashboard")
    : h("a", { href: "#/login", class: "button primary" }, "Sign in");
  status.replaceWith(notice("success", h("strong", {}, "Your email is confirmed. "),
    "You can now top up and buy numbers."), h("p", {}, next));
  if (session.token()) await ctx.refreshMe();
}

// This browser's proof of an earlier sign-in: its failed sign-ins are counted apart from strangers at its IP.
const DEVICE_KEY = "smsrooms.device";
const deviceToken = () => localStorage.getItem(DEVICE_KEY) || undefined;

const NOTICES = {
  expired: ["info", "Your session has ended. Please sign in again."],
  locked: ["success", "Your account is locked. Check your email for the link to choose a new password."],
  closed: ["success", "Your account is closed. Thank you for using SMS Rooms."],
};

export async function loginPage(ctx) {
  const next = ctx.query.get("next") || "/dashboard";
  const said = NOTICES[ctx.query.get("notice")];
  const loginForm = form({ class: "card narrow", "aria-label": "Sign in" }, [
    field({ label: "Email", name: "email", type: "email", autocomplete: "username", required: true }),
    field({ label: "Password", name: "password", type: "password", autocomplete: "current-password",
      required: true }),
    h("button", { type: "submit", class: "primary wide" }, "Sign in"),
    h("p", { class: "muted center" }, h("a", { href: "#/forgot" }, "Forgot your password?"),
      " · ", h("a", { href: "#/register" }, "Create an account"),
      " · ", h("a", { href: "#/contact", id: "contact-support" }, "Contact support")),
  ], async (data) => {
    const reply = await post("/v1/auth/login", { email: String(data.get("email")).trim(),
      password: data.get("password"), device_token: deviceToken() }).catch((error) => {
      // The same words for every failure (no one learns which emails have accounts), with the one case people
      // cannot guess: an account they closed cannot sign in any more.
      if (error.code === "INVALID_CREDENTIALS") {
        error.message = `${error.message} An account that was closed can no longer sign in.`;
      }
      throw error;
    });
    const signedIn = (started) => {
      if (started.device_token) localStorage.setItem(DEVICE_KEY, started.device_token);
      session.signIn(started.token);
      ctx.navigate(next.startsWith("/") ? next : "/dashboard");
    };
    if (reply.mfa_required) loginForm.replaceWith(loginCodeForm(reply.mfa_token, deviceToken(), signedIn));
    else signedIn(reply);
  });
  replace(ctx.main, pageHeader("Sign in"), said ? notice(said[0], said[1]) : null, loginForm);
}

export async function forgotPage(ctx) {
  const sent = h("div");
  const forgotForm = form({ class: "card narrow", "aria-label": "Reset your password" }, [
    h("p", {}, "Enter the email address of your account. We will send you a link to choose a new password."),
    field({ label: "Email", name: "email", type: "email", autocomplete: "email", required: true }),
    h("button", { type: "submit", class: "primary wide" }, "Send the link"),
    h("p", { class: "muted center" }, h("a", { href: "#/login" }, "Back to sign in")),
  ], async (data) => {
    await post("/v1/auth/forgot-password", { email: String(data.get("email")).trim() });
    replace(sent, notice("success", "If an account uses that address, a reset link is on its way. ",
      "It works once and expires in an hour."));
    forgotForm.replaceWith(sent);
  });
  replace(ctx.main, pageHeader("Forgot your password?"), forgotForm);
}

export async function resetPage(ctx) {
  const token = ctx.query.get("token");
  replace(ctx.main, pageHeader("Choose a new password"));
  if (!token) {
    ctx.main.append(notice("error", "This link has no token. ", h("a", { href: "#/forgot" }, "Ask for a new link"), "."));
    return;
  }
  const done = h("div");
  const keys = revokeKeysChoice("reset-revoke-keys");
  const code = securityCode();  // two-factor sign-in on: the link alone does not reset the password
  const resetForm = form({ class: "card narrow", "aria-label": "Choose a new password" }, [
    field({ label: "New password", name: "password", type: "password", autocomplete: "new-password",
      required: true, hint: "8 to 128 characters. Every session is signed out." }),
    keys.row,
    code.row,
    h("button", { type: "submit", class: "primary wide" }, "Save the new password"),
  ], async (data) => {
    const reply = await code.send({ token, password: data.get("password"), revoke_api_keys: keys.box.checked },
      (body) => post("/v1/auth/reset-password", body));
    session.forget();
    replace(done, notice("success", "Your password is changed and every session was signed out. ",
      reply.api_keys_revoked ? "Your API keys were revoked too: create new ones for your bots." : "Your API keys still work."),
      h("p", {}, h("a", { href: "#/login", class: "button primary" }, "Sign in")));
    resetForm.replaceWith(done);
  });
  ctx.main.append(resetForm);
}
