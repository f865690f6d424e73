// Top up with a card: Stripe.js confirms a SetupIntent with the card element (or a saved card is picked), the
// server charges the card, and the page waits for the balance to move: only Stripe's webhook credits it.

import { ApiError, get, items, post } from "./api.js";
import { field, fieldError, form, h, money, notice, pageHeader, parseAmount, replace } from "./ui.js";

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

  const amount = field({ label: `Amount (${me.currency || "USD"})`, name: "amount_cents", inputmode: "decimal", autocomplete: "off",
    placeholder: "10.00", hint: `Between ${money(limit(me, "min"), me.currency)} and ${money(limit(me, "max"), me.currency)}.` });
  const amountInput = amount.querySelector("input");
  const pay = h("button", { type: "submit", class: "primary wide", id: "pay-button" }, "Pay");
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
    const cents = parseAmount(data.get("amount_cents"));
    if (cents === null) throw fieldError("amount_cents", "Enter an amount in dollars, like 10 or 12.50.");
    const chosen = data.get("payment_method");
    const before = (await ctx.refreshMe())?.balance_cents ?? 0;
    replace(status, notice("info", "Confirming your card…"));
    const paymentMethod = chosen && chosen !== "new" ? chosen : await confirmNewCard(await showNewCard());
    replace(status, notice("info", `Charging ${money(cents, me.currency)}…`));
    await charge(cents, paymentMethod, cardForm);
    replace(status, notice("info", "Payment accepted. Waiting for Stripe to confirm it…"));
    const credited = await waitForCredit(ctx, before + cents);
    replace(status, credited
      ? notice("success", h("strong", {}, `${money(cents, me.currency)} added. `),
        `Your balance is ${money(credited.balance_cents, credited.currency)}. `, h("a", { href: "#/buy" }, "Buy a number"))
      : notice("info", "Your payment went through; the balance updates as soon as Stripe confirms it. ",
        "You can leave this page."));
  });
  replace(ctx.main, pageHeader("Top up", h("span", { class: "muted" }, "Balance ",
    h("strong", { id: "topup-balance" }, money(me.balance_cents, me.currency)))), status, topupForm);
  if (!cards.length) showNewCard().catch(() => {});
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

async function confirmNewCard({ stripe, card, setup }) {
  const result = await stripe.confirmCardSetup(setup.client_secret, { payment_method: { card } });
  if (result.error) throw fieldError("card", result.error.message || "The card was declined.");
  const method = result.setupIntent.payment_method;
  return typeof method === "string" ? method : method.id;
}

// The server charges the card; a card that asks for 3-D Secure is finished here with confirmCardPayment.
async function charge(cents, paymentMethod, cardForm) {
  const topup = await post("/v1/topups", { amount_cents: cents, payment_method_id: paymentMethod });
  if (topup.status !== "requires_action") return topup;
  const { stripe } = cardForm ? await cardForm : await stripeOnly();
  const result = await stripe.confirmCardPayment(topup.client_secret);
  if (result.error) throw fieldError("card", result.error.message || "The card could not be authenticated.");
  return topup;
}

async function stripeOnly() {
  const setup = await post("/v1/topups/card-setup");
  const StripeJs = await loadStripeJs(setup.stripe_js_url);
  return { stripe: StripeJs(setup.publishable_key) };
}

async function waitForCredit(ctx, target) {
  const deadline = Date.now() + CREDIT_WAIT_MS;
  while (Date.now() < deadline && ctx.isCurrent()) {
    const me = await ctx.refreshMe();
    if (me && me.balance_cents >= target) return me;
    await new Promise((resolve) => setTimeout(resolve, CREDIT_POLL_MS));
  }
  return null;
}
