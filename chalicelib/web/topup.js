// Top up with a card: Stripe.js confirms a SetupIntent with the card element (or a saved card is picked), the
// server charges the card, and the page waits for the balance to move: only Stripe's webhook credits it.

import { ApiError, get, items, post } from "./api.js";
import { availableCents, balanceParts, field, fieldError, form, h, money, notice, pageHeader, parseAmount, replace } from "./ui.js";

const PRESETS = [500, 1000, 2500, 5000];
const CREDIT_WAIT_MS = 30000;
const CREDIT_POLL_MS = 1000;
const stripeScripts = new Map();

// Stripe.js must come from its own URL as a classic script (the real one, or localstripe's fake locally).
function loadStripeJs(url) {
  if (!stripeScripts.has(url)) {
    stripeScripts.set(url, new Promise((resolve, reject) => {
      const script = h("script", { src: url });
      script.addEventListener("load", () => resolve(window.Stripe));
      script.addEventListener("error", () => {
        stripeScripts.delete(url);
        script.remove();
        reject(new ApiError(0, "STRIPE_UNAVAILABLE", "The card form could not be loaded. Please try again."));
      });
      document.head.append(script);
    }));
  }
  return stripeScripts.get(url);
}

// A card element mounted in `slot`, with the SetupIntent it will confirm.
async function newCardForm(slot) {
  const setup = await post("/v1/topups/card-setup");
  const StripeJs = await loadStripeJs(setup.stripe_js_url);
  const stripe = StripeJs(setup.publishable_key);
  const card = stripe.elements().create("card");
  replace(slot);
  card.mount(slot);
  return { stripe, card, setup };
}

export async function topupPage(ctx) {
  const me = ctx.me || {};
  const cards = items(await get("/v1/topups/cards"));
  const cardSlot = h("div", { class: "card-element", id: "card-element" });
  const cardError = h("p", { class: "field-error", "data-error-for": "card", id: "card-error" });
  const newCard = h("fieldset", { class: "new-card", hidden: cards.length > 0 },
    h("legend", {}, "Card details"), cardSlot, cardError,
    h("p", { class: "hint" }, "Your card is saved with Stripe for the next top-up; we never see its number."));
  const status = h("div", { "aria-live": "polite" });
  let cardForm = null;
  const showNewCard = async () => {
    newCard.hidden = false;
    if (!cardForm) {
      replace(cardSlot, h("span", { class: "muted" }, "Loading the secure card form…"));
      cardForm = newCardForm(cardSlot).catch((error) => {
        cardForm = null;
        replace(cardSlot, notice("error", error.message));
        throw error;
      });
    }
    return cardForm;
  };

  const [low, high] = [money(limit(me, "min"), me.currency), money(limit(me, "max"), me.currency)];
  const amount = field({ label: `Amount (${me.currency || "USD"})`, name: "amount_cents", inputmode: "decimal", autocomplete: "off",
    placeholder: "10.00", hint: `Between ${low} and ${high}.` });
  const amountInput = amount.querySelector("input");
  const pay = h("button", { type: "submit", class: "primary wide", id: "pay-button" }, "Pay");
  // One Idempotency-Key per intended payment: a retry of the same amount with the same card after the answer was lost
  // (network, 5xx) sends it again and the server charges once; another amount or card, an answer, or success: a new one.
  // A new card saved for that payment is kept with it, so the retry names the same card.
  let intent = null;
  let newCardMethod = null;
  const keyFor = (cents, method) => {
    if (!intent || intent.cents !== cents || intent.method !== method) intent = { key: newIntentKey(), cents, method };
    return intent.key;
  };
  const showAmount = () => {
    const cents = parseAmount(amountInput.value);
    pay.textContent = cents ? `Pay ${money(cents, me.currency)}` : "Pay";
  };
  amountInput.addEventListener("input", showAmount);
  const presets = h("div", { class: "presets", role: "group", "aria-label": "Common amounts" },
    PRESETS.map((cents) => h("button", { type: "button", class: "choice", onclick: () => {
      amountInput.value = money(cents).slice(1);
      showAmount();
      amountInput.focus();
    } }, money(cents, me.currency))));

  const topupForm = form({ class: "card narrow", "aria-label": "Top up" }, [
    amount, presets,
    cards.length ? savedCards(cards, showNewCard, newCard) : null,
    newCard,
    pay,
  ], async (data) => {
    replace(status);
    const cents = parseAmount(data.get("amount_cents"));
    if (cents === null) throw fieldError("amount_cents", "Enter an amount in dollars, like 10 or 12.50.");
    if (cents < limit(me, "min") || cents > limit(me, "max")) {
      throw fieldError("amount_cents", `Enter an amount between ${low} and ${high}.`);
    }
    const chosen = data.get("payment_method");
    try {
      replace(status, notice("info", "Confirming your card…"));
      if (!(chosen && chosen !== "new")) newCardMethod = newCardMethod || await confirmNewCard(await showNewCard());
      const paymentMethod = chosen && chosen !== "new" ? chosen : newCardMethod;
      replace(status, notice("info", `Charging ${money(cents, me.currency)}…`));
      const topup = await charge(cents, paymentMethod, cardForm, keyFor(cents, paymentMethod));
      // Charged: this intent is spent, and the form is emptied so a second click cannot pay it again.
      [intent, newCardMethod] = [null, null];
      amountInput.value = "";
      showAmount();
      replace(status, notice("info", "Payment accepted. Waiting for Stripe to confirm it…"));
      const credited = await waitForCredit(ctx, topup.topup_id);
      if (credited) replace(heading, balanceParts(credited, "topup-balance"));
      replace(status, credited
        ? notice("success", h("strong", {}, `${money(cents, me.currency)} added. `),
          `Your balance is ${money(availableCents(credited), credited.currency)}. `, h("a", { href: "#/buy" }, "Buy a number"))
        : notice("info", "Your payment went through; the balance updates as soon as Stripe confirms it. ",
          "You can leave this page."));
    } catch (error) {
      if (!(error.status === 0 || error.status >= 500)) [intent, newCardMethod] = [null, null];
      replace(status);
      throw error;
    }
  });
  const heading = h("span", { class: "muted" }, balanceParts(me, "topup-balance"));
  replace(ctx.main, pageHeader("Top up", heading), status, topupForm);
  if (!cards.length) showNewCard().catch(() => {});
}

function newIntentKey() {
  if (crypto.randomUUID) return `topup-${crypto.randomUUID()}`;
  return `topup-${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const limit = (me, which) => me[`topup_${which}_cents`] ?? (which === "min" ? 100 : 100000);

function savedCards(cards, showNewCard, newCard) {
  const options = cards.map((card, i) => radio(card.id || card.payment_method_id, i === 0,
    `${cardBrand(card.brand)} •••• ${card.last4}`, card.exp_month ? `expires ${card.exp_month}/${String(card.exp_year).slice(-2)}` : ""));
  options.push(radio("new", false, "A new card", ""));
  const group = h("fieldset", { class: "saved-cards" }, h("legend", {}, "Pay with"), options);
  group.addEventListener("change", (event) => {
    if (event.target.value === "new") showNewCard().catch(() => {});
    else newCard.hidden = true;
  });
  return group;
}

function radio(value, checked, label, detail) {
  const id = `pm-${value}`;
  return h("div", { class: "radio" },
    h("input", { type: "radio", name: "payment_method", id, value, checked }),
    h("label", { for: id }, label, detail ? h("span", { class: "muted" }, ` ${detail}`) : null));
}

const cardBrand = (brand) => (brand ? brand[0].toUpperCase() + brand.slice(1) : "Card");

// Stripe's own words for a card it refused or a field it found wrong are meant for people; anything else (a script
// error in the card form, a network failure) is not, and is told in ours.
const CARD_WORDS = {
  incomplete_number: "Enter the card number.",
  invalid_number: "The card number is not valid.",
  incorrect_number: "The card number is not valid.",
  incomplete_expiry: "Enter the card's expiry date.",
  invalid_expiry_month: "The expiry month is not valid.",
  invalid_expiry_year: "The expiry year is not valid.",
  expired_card: "This card has expired.",
  incomplete_cvc: "Enter the card's security code (CVC).",
  invalid_cvc: "The security code (CVC) is not valid.",
  incorrect_cvc: "The security code (CVC) is not valid.",
  incomplete_zip: "Enter the postal code of the card.",
  card_declined: "The card was declined. Try another card.",
  processing_error: "The card could not be checked just now. Please try again.",
  authentication_failure: "The bank did not confirm it was you. Try again or use another card.",
};
const STRIPE_TYPES = new Set(["card_error", "validation_error"]);

function cardErrorText(error, fallback) {
  if (!error) return fallback;
  if (CARD_WORDS[error.code]) return CARD_WORDS[error.code];
  if (STRIPE_TYPES.has(error.type) && error.message) return error.message;
  if (error instanceof TypeError) return "Enter the card's number, expiry date, security code and postal code.";
  return fallback;
}

async function confirmNewCard({ stripe, card, setup }) {
  const result = await stripe.confirmCardSetup(setup.client_secret, { payment_method: { card } });
  if (result.error) throw fieldError("card", cardErrorText(result.error, "The card could not be saved. Check it and try again."));
  const method = result.setupIntent.payment_method;
  return typeof method === "string" ? method : method.id;
}

// The server charges the card; a card that asks for 3-D Secure is finished here with confirmCardPayment.
async function charge(cents, paymentMethod, cardForm, intentKey) {
  const topup = await post("/v1/topups", { amount_cents: cents, payment_method_id: paymentMethod },
    { "Idempotency-Key": intentKey });
  if (topup.status !== "requires_action") return topup;
  const { stripe } = cardForm ? await cardForm : await stripeOnly();
  const result = await stripe.confirmCardPayment(topup.client_secret);
  if (result.error) throw fieldError("card", cardErrorText(result.error, "The card could not be authenticated."));
  return topup;
}

async function stripeOnly() {
  const setup = await post("/v1/topups/card-setup");
  const StripeJs = await loadStripeJs(setup.stripe_js_url);
  return { stripe: StripeJs(setup.publishable_key) };
}

// The account once Stripe's webhook credited this top-up (a retried payment may have been credited before the
// retry's answer came, so the top-up's own status is watched, not the balance); null when it takes longer.
async function waitForCredit(ctx, topupId) {
  const deadline = Date.now() + CREDIT_WAIT_MS;
  while (Date.now() < deadline && ctx.isCurrent()) {
    const found = items(await get("/v1/payments")).find((p) => p.type === "top_up" && p.id === topupId);
    if (found && found.status === "credited") return ctx.refreshMe();
    if (found && found.status === "failed") throw new ApiError(402, "CARD_FAILED", "The card payment failed.");
    await new Promise((resolve) => setTimeout(resolve, CREDIT_POLL_MS));
  }
  return null;
}
