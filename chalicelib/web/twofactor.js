// Two-factor sign-in (TOTP): the Account page's section (turn on with a code, recovery codes shown once, turn off),
// the sign-in page's code step, and the code field that security changes show when the server asks for it.

import { get, post } from "./api.js";
import { copyButton, field, fieldError, form, h, notice, replace, toast } from "./ui.js";

const CODE_HINT = "The 6-digit code from your authenticator app, or one of your recovery codes.";

function codeInput(name, label, extra = {}) {
  return field({ label, name, inputmode: "numeric", autocomplete: "one-time-code", maxlength: "64",
    spellcheck: "false", hint: CODE_HINT, ...extra });
}

// The code field of a security change (password, webhook, a key with the account scope): hidden until the server
// answers OTP_REQUIRED, then asked for. `send(body, call)` adds `otp_code` to the body when one was typed.
export function securityCode() {
  const row = codeInput("otp_code", "Two-factor code");
  row.hidden = true;
  const input = row.querySelector("input");
  return {
    row,
    async send(body, call) {
      const code = input.value.trim();
      try {
        const reply = await call(code ? { ...body, otp_code: code } : body);
        input.value = "";
        return reply;
      } catch (error) {
        if (error.code !== "OTP_REQUIRED") throw error;
        row.hidden = false;
        throw fieldError("otp_code", "Two-factor sign-in is on: enter a current code to confirm this change.");
      }
    },
  };
}

// The sign-in's second step, after the right password of an account with two-factor sign-in on; `onSignedIn`
// gets the session reply (token, device_token).
export function loginCodeForm(mfaToken, deviceToken, onSignedIn) {
  return form({ class: "card narrow", id: "mfa-step", "aria-label": "Two-factor code" }, [
    h("p", {}, "Your password is right. Enter the code from your authenticator app to finish signing in."),
    codeInput("code", "Code", { required: true, autofocus: true }),
    h("button", { type: "submit", class: "primary wide" }, "Verify and sign in"),
    h("p", { class: "muted center" }, "Lost your phone? Enter one of your recovery codes instead. ",
      h("a", { href: `#/login?again=${Date.now()}` }, "Start again")),  // a new hash: the form is drawn anew
  ], async (data) => {
    onSignedIn(await post("/v1/auth/login/mfa", { mfa_token: mfaToken, code: String(data.get("code")).trim(),
      device_token: deviceToken }));
  });
}

function recoveryCodesBox(codes) {
  return h("div", { class: "secret-box", id: "recovery-codes-box" },
    h("p", {}, h("strong", {}, "Recovery codes"), ": each works once instead of a code, if you lose your phone. ",
      "Save them somewhere safe now: they will not be shown again."),
    h("ol", { class: "recovery-codes", id: "recovery-codes" }, codes.map((c) => h("li", {}, h("code", {}, c)))),
    copyButton(codes.join("\n"), "Copy the recovery codes"));
}

export function twoFactorSection() {
  const body = h("div", { "aria-live": "polite" });
  const section = h("section", { class: "card", id: "two-factor", "aria-labelledby": "two-factor-title" },
    h("h2", { id: "two-factor-title" }, "Two-factor sign-in"), body);

  const showOff = () => {
    const start = h("button", { type: "button", class: "primary", id: "two-factor-start" },
      "Turn on two-factor sign-in");
    start.addEventListener("click", async () => {
      start.disabled = true;
      try {
        showSetup(await post("/v1/account/two-factor/setup"));
      } finally {
        start.disabled = false;
      }
    });
    replace(body, h("p", {}, "Off. With it on, signing in needs your password and a code from an authenticator ",
      "app on your phone (Google Authenticator, Aegis, 1Password…), so a stolen password alone is not enough."), start);
  };

  const showSetup = (setup) => {
    const confirm = form({ class: "narrow", id: "two-factor-confirm", "aria-label": "Confirm two-factor sign-in" }, [
      codeInput("otp_code", "Code from the app", { required: true }),
      field({ label: "Your password", name: "current_password", type: "password", autocomplete: "current-password",
        required: true, hint: "So that only you can tie your account to a phone." }),
      h("button", { type: "submit", class: "primary" }, "Turn it on"),
    ], async (data) => {
      const reply = await post("/v1/account/two-factor/enable", { otp_code: String(data.get("otp_code")).trim(),
        current_password: data.get("current_password") });
      toast("Two-factor sign-in is on.");
      const done = h("button", { type: "button", class: "secondary" }, "I saved them");
      done.addEventListener("click", () => show());
      replace(body, notice("success", "Two-factor sign-in is on. From now on, signing in asks for a code."),
        recoveryCodesBox(reply.recovery_codes), done);
    });
    replace(body,
      h("ol", { class: "steps" },
        h("li", {}, "In your authenticator app, add an account: open ",
          h("a", { href: setup.otpauth_uri, id: "otpauth-link" }, "this otpauth link"),
          " on the phone, or type this key:"),
        h("li", {}, "Enter the 6-digit code the app shows.")),
      h("div", { class: "value-row plain" },
        h("code", { id: "totp-secret", class: "ref" }, setup.secret), copyButton(setup.secret, "Copy the key")),
      confirm);
  };

  const showOn = (status) => {
    const off = form({ class: "narrow", id: "two-factor-off", "aria-label": "Turn two-factor sign-in off" }, [
      codeInput("otp_code", "Code to turn it off", { required: true }),
      h("button", { type: "submit", class: "secondary danger" }, "Turn it off"),
    ], async (data) => {
      await post("/v1/account/two-factor/disable", { otp_code: String(data.get("otp_code")).trim() });
      toast("Two-factor sign-in is off.");
      await show();
    });
    const renew = form({ class: "narrow", id: "two-factor-renew", "aria-label": "New recovery codes" }, [
      codeInput("otp_code", "Code for new recovery codes", { required: true }),
      h("button", { type: "submit", class: "secondary" }, "Make new recovery codes"),
    ], async (data) => {
      const reply = await post("/v1/account/two-factor/recovery-codes",
        { otp_code: String(data.get("otp_code")).trim() });
      replace(body, notice("success", "Your old recovery codes stopped working."), recoveryCodesBox(reply.recovery_codes),
        h("button", { type: "button", class: "secondary", onclick: () => show() }, "I saved them"));
    });
    replace(body, h("p", { id: "two-factor-status" }, h("span", { class: "badge good" }, "On"),
      ` ${status.recovery_codes_left} recovery code${status.recovery_codes_left === 1 ? "" : "s"} left.`),
    off, renew);
  };

  const show = async () => {
    const status = await get("/v1/account/two-factor");
    if (status.enabled) showOn(status);
    else showOff();
  };
  return { section, show };
}
