// The dashboard's shell: hash routes → pages, the header and its menu, banners (maintenance, agreement, email).

import { apiEvents, get, post, session } from "./api.js";
import { forgotPage, loginPage, registerPage, resetPage, verifyPage } from "./auth.js";
import { agreementBanner, agreementPage } from "./agreement.js";
import { activationPage, historyPage } from "./activation.js";
import { buyPage, pricesPage } from "./catalog.js";
import { closeLive } from "./live.js";
import { dashboardPage, ledgerPage, paymentsPage, refundPage } from "./money.js";
import { rentalPage, rentalsPage } from "./rentals.js";
import { accountPage, apiKeysPage } from "./settings.js";
import { webhookPage } from "./webhook.js";
import { contactConfirmPage, contactPage, supportPage } from "./support.js";
import { topupPage } from "./topup.js";
import { availableCents, h, money, notice, pageHeader, replace, toast } from "./ui.js";

// [pattern, page, needs sign-in, title]; a ":id" segment becomes ctx.params.id.
const ROUTES = [
  ["/register", registerPage, false, "Create an account"],
  ["/verify", verifyPage, false, "Verify your email"],
  ["/login", loginPage, false, "Sign in"],
  ["/forgot", forgotPage, false, "Forgot password"],
  ["/reset", resetPage, false, "Choose a new password"],
  ["/reset-password", resetPage, false, "Choose a new password"],
  ["/contact", contactPage, false, "Contact support"],
  ["/contact/confirm", contactConfirmPage, false, "Contact support"],
  ["/prices", pricesPage, false, "Prices"],
  ["/agreement", agreementPage, false, "User agreement"],
  ["/agreement/:version", agreementPage, false, "User agreement"],
  ["/dashboard", dashboardPage, true, "Dashboard"],
  ["/topup", topupPage, true, "Top up"],
  ["/buy", buyPage, true, "Buy a number"],
  ["/activation/:id", activationPage, true, "Activation"],
  ["/history", historyPage, true, "Numbers"],
  ["/rentals", rentalsPage, true, "Rentals"],
  ["/rental/:id", rentalPage, true, "Rented number"],
  ["/payments", paymentsPage, true, "Payments"],
  ["/ledger", ledgerPage, true, "Ledger"],
  ["/api-keys", apiKeysPage, true, "API keys"],
  ["/webhook", webhookPage, true, "Webhook"],
  ["/refund", refundPage, true, "Refund request"],
  ["/support", supportPage, true, "Support"],
  ["/account", accountPage, true, "Account"],
];

const NAV_IN = [["/dashboard", "Dashboard"], ["/buy", "Buy a number"], ["/prices", "Prices"], ["/topup", "Top up"],
  ["/history", "Numbers"], ["/rentals", "Rentals"], ["/payments", "Payments"], ["/ledger", "Ledger"],
  ["/refund", "Refund"], ["/api-keys", "API keys"], ["/webhook", "Webhook"], ["/support", "Support"], ["/account", "Account"]];
const NAV_OUT = [["/prices", "Prices"], ["/agreement", "Agreement"], ["/login", "Sign in"],
  ["/register", "Create account"]];

const state = { me: null, leave: [], maintenance: null, renderSeq: 0 };

export function navigate(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = `#${path}`;
}

function parseHash() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(1) : "/";
  const [path, query = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(query) };
}

function match(path) {
  for (const [pattern, page, auth, title] of ROUTES) {
    const names = [];
    const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => { names.push(name); return "([^/]+)"; })}$`);
    const found = path.match(regex);
    if (found) {
      const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1])]));
      return { page, auth, title, params };
    }
  }
  return null;
}

async function render() {
  const seq = ++state.renderSeq;
  state.leave.splice(0).forEach((fn) => fn());
  closeMenu();
  const { path, query } = parseHash();
  if (path === "/") return navigate(session.token() ? "/dashboard" : "/login");
  const route = match(path);
  const main = document.getElementById("main");
  // data-ready names the route whose page has finished drawing (tests and scripts wait on it).
  delete main.dataset.ready;
  if (!route) return showNotFound(main);
  if (route.auth && !session.token()) return navigate(`/login?next=${encodeURIComponent(path + queryText(query))}`);
  document.title = `${route.title} · SMS Rooms`;
  if (session.token()) await refreshMe();
  if (seq !== state.renderSeq) return;
  renderChrome(path);
  const ctx = {
    main, query, params: route.params, me: state.me, navigate, refreshMe,
    onLeave: (fn) => state.leave.push(fn),
    isCurrent: () => seq === state.renderSeq,
  };
  replace(main);
  try {
    await route.page(ctx);
  } catch (error) {
    if (seq === state.renderSeq) showFailure(main, route.title, error);
  }
  if (seq !== state.renderSeq) return;
  focusHeading(main);
  main.dataset.ready = path + queryText(query);
}

// A page whose data could not load: its title, why, and a way to try again (maintenance has its own banner).
function showFailure(main, title, error) {
  const why = error.code === "MAINTENANCE"
    ? notice("info", "This page cannot load while we are down for maintenance; see the message above.")
    : notice("error", error.message || String(error));
  replace(main, pageHeader(title), why,
    h("button", { type: "button", class: "secondary", onclick: render }, "Try again"));
}

const queryText = (query) => (String(query) ? `?${query}` : "");

function showNotFound(main) {
  document.title = "Not found · SMS Rooms";
  renderChrome("");
  replace(main, pageHeader("Page not found"),
    h("p", {}, "There is no page at this address. ", h("a", { href: "#/" }, "Go to the start page"), "."));
  focusHeading(main);
  main.dataset.ready = parseHash().path;
}

function focusHeading(main) {
  const heading = main.querySelector("h1");
  if (heading && !main.contains(document.activeElement)) heading.focus({ preventScroll: true });
}

export async function refreshMe() {
  try {
    state.me = await get("/v1/me");
  } catch (error) {
    if (error.status !== 503) state.me = null;
  }
  renderChrome(parseHash().path);
  return state.me;
}

function renderChrome(path) {
  const signedIn = Boolean(session.token());
  const links = signedIn ? NAV_IN : NAV_OUT;
  const nav = document.getElementById("nav");
  nav.classList.toggle("wide", signedIn);
  replace(nav, h("ul", {}, links.map(([href, label]) => h("li", {},
    h("a", { href: `#${href}`, "aria-current": path === href ? "page" : null }, label))),
  signedIn ? h("li", {}, h("button", { type: "button", class: "link", onclick: signOut }, "Sign out")) : null));
  const balance = document.getElementById("balance");
  balance.hidden = !(signedIn && state.me);
  if (state.me) {
    // What can be spent; a sum held for a refund request is named beside it, never counted in.
    const held = state.me.held_cents > 0 ? money(state.me.held_cents, state.me.currency) : null;
    replace(balance, h("span", { class: "visually-hidden" }, "Available balance: "),
      money(availableCents(state.me), state.me.currency), held ? h("span", { class: "held" }, ` + ${held} held`) : null);
  }
  renderBanners();
}

function renderBanners() {
  const me = session.token() ? state.me : null;
  replace(document.getElementById("banners"),
    state.maintenance ? h("div", { class: "banner warn", role: "alert", id: "maintenance-banner" },
      h("strong", {}, "Maintenance. "), state.maintenance) : null,
    agreementBanner(me, { me, refreshMe, navigate }),
    me && me.status === "unverified" ? h("div", { class: "banner info", id: "verify-banner" },
      `Confirm your email address (${me.email}) to top up and buy numbers: open the link we sent you. `,
      h("button", { type: "button", class: "link", onclick: resendVerification }, "Send it again")) : null);
}

async function resendVerification(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const reply = await post("/v1/auth/resend-verification");
    toast(reply?.message || "A new confirmation email is on its way.");
  } catch (error) {
    toast(error.message);
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await post("/v1/auth/logout");
  } catch {
    // The session ends here either way; a failed revoke only leaves a token that expires on its own.
  }
  session.forget();
  closeLive();
  state.me = null;
  navigate("/login");
}

function closeMenu() {
  const toggle = document.getElementById("menu-toggle");
  toggle.setAttribute("aria-expanded", "false");
  document.getElementById("nav").classList.remove("open");
}

function setUpMenu() {
  const toggle = document.getElementById("menu-toggle");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.getElementById("nav").classList.toggle("open", open);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      closeMenu();
      toggle.focus();
    }
  });
}

apiEvents.addEventListener("maintenance", (event) => {
  if (state.maintenance === event.detail) return;
  state.maintenance = event.detail;
  renderBanners();
});
apiEvents.addEventListener("signed-out", () => {
  state.me = null;
  const { path, query } = parseHash();
  if (match(path)?.auth) navigate(`/login?next=${encodeURIComponent(path + queryText(query))}&notice=expired`);
});

// Another tab signed in or out: this one follows (a signed-in page falls back to Sign in).
window.addEventListener("storage", (event) => {
  if (!session.changedBy(event)) return;
  state.me = null;
  render();
});

setUpMenu();
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
// Only "#/…" hashes are routes; any other fragment is an in-page anchor.
window.addEventListener("hashchange", () => {
  if (!location.hash || location.hash.startsWith("#/")) render();
});
render();
