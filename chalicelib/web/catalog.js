// The public price list and the buying page: pick a service and a country, see price and stock, buy.

import { get, items, post, session } from "./api.js";
import { balanceParts, empty, field, h, loading, money, notice, pageHeader, replace, table, toast } from "./ui.js";

const REFRESH_MS = 30000;
const PAGE_ROWS = 20;
const FAVOURITES_KEY = "smsrooms.favourites";
const MAX_QUANTITY = 10; // BULK_MAX_COUNT's default; the server refuses more with a message
const POPULAR = ["tg", "wa", "go", "fb", "ig", "tw", "ds", "mm", "vi", "wb", "vk", "ok"];

let directory = null;

// Services and countries by code/id; they change with releases, not while a page is open.
function loadDirectory() {
  directory = directory || Promise.all([get("/v1/services"), get("/v1/countries")]).then(([services, countries]) => ({
    serviceNames: new Map(items(services).map((s) => [String(s.code ?? s.id), s.name])),
    countryInfo: new Map(items(countries).map((c) => [String(c.id), c])),
  })).catch((error) => { directory = null; throw error; });
  return directory;
}

// Readable names for an activation's service and country.
export async function names() {
  const cat = await loadDirectory();
  return { service: (code) => serviceName(cat, code), country: (id) => countryName(cat, id) };
}

// The directory plus the offers of the catalog grouped by (service, country).
async function loadCatalog() {
  const [dir, catalog] = await Promise.all([loadDirectory(), get("/v1/catalog")]);
  return { ...dir, offers: groupOffers(items(catalog)) };
}

// The catalog may list one row per operator; people choose a country, so show the cheapest row of each.
function groupOffers(rows) {
  const groups = new Map();
  for (const row of rows) {
    const key = `${row.service}:${row.country}`;
    groups.set(key, [...(groups.get(key) || []), row]);
  }
  return [...groups.values()].map((group) => {
    const inStock = group.filter((row) => row.available > 0);
    const pick = (inStock.length ? inStock : group).reduce((a, b) => (b.price_cents < a.price_cents ? b : a));
    const operators = new Set(group.flatMap((row) => [...(row.operators || []),
      ...(row.operator && row.operator !== "any" ? [row.operator] : [])]));
    return { ...pick, available: inStock.reduce((sum, row) => sum + row.available, 0),
      operators: [...operators].sort(), day: pooled(group, "24h"), week: pooled(group, "7d") };
  });
}

// One success rate over every row of a group: each row's percentage weighed by its outcomes.
function pooled(group, window) {
  const outcomes = group.reduce((sum, row) => sum + (row[`outcomes_${window}`] || 0), 0);
  const received = group.reduce((sum, row) => sum + ((row[`success_percent_${window}`] || 0) / 100)
    * (row[`outcomes_${window}`] || 0), 0);
  return { outcomes, percent: outcomes ? (100 * received) / outcomes : null };
}

// "93% · 7 days 91%": the share of our numbers here that received a code; "New" before any outcome.
function success(offer) {
  const { day, week } = offer;
  if (!week.outcomes) return h("span", { class: "muted", title: "No number sold here has ended yet" }, "New");
  const main = day.outcomes ? `${Math.round(day.percent)}%` : "–";
  return h("span", { class: "success", "data-outcomes": day.outcomes },
    main, h("span", { class: "muted" }, ` · 7 days ${Math.round(week.percent)}%`),
    h("span", { class: "visually-hidden" }, ` (of ${day.outcomes} numbers in the last 24 hours, ${week.outcomes} in 7 days)`));
}

// Favourite services (kept in this browser) come first in the price list and the buy page.
const favourites = {
  all() {
    try { return new Set(JSON.parse(localStorage.getItem(FAVOURITES_KEY) || "[]").map(String)); } catch { return new Set(); }
  },
  toggle(code) {
    const all = favourites.all();
    if (all.has(code)) all.delete(code); else all.add(code);
    localStorage.setItem(FAVOURITES_KEY, JSON.stringify([...all]));
  },
};

function favouriteButton(cat, code, onChange) {
  const on = favourites.all().has(String(code));
  return h("button", { type: "button", class: "star", "aria-pressed": String(on), "data-favourite": code,
    "aria-label": `Favourite: ${serviceName(cat, code)}`, title: on ? "Remove from favourites" : "Add to favourites",
    onclick: () => { favourites.toggle(String(code)); onChange(); } }, on ? "★" : "☆");
}

// How the price list can be ordered; each is a comparison of two offers.
const SORTS = {
  popular: { label: "Popular first", compare: null },
  price: { label: "Price, lowest first", compare: (a, b) => a.price_cents - b.price_cents },
  stock: { label: "Stock, most first", compare: (a, b) => b.available - a.available },
  success: { label: "Success rate, best first", compare: (a, b) => (b.day.percent ?? -1) - (a.day.percent ?? -1) },
};

const countryName = (cat, id) => {
  const info = cat.countryInfo.get(String(id));
  return info ? info.name || info.name_en : `Country ${id}`;
};
const serviceName = (cat, code) => cat.serviceNames.get(String(code)) || code;
const matches = (text, ...values) => values.some((v) => String(v).toLowerCase().includes(text));

function stock(offer) {
  return offer.available > 0 ? h("span", { class: "stock" }, `${offer.available.toLocaleString()} available`)
    : h("span", { class: "stock none" }, "Out of stock");
}

export async function pricesPage(ctx) {
  const serviceFilter = field({ label: "Service", name: "service", type: "search", placeholder: "e.g. Telegram" });
  const countryFilter = field({ label: "Country", name: "country", type: "search", placeholder: "e.g. USA" });
  const sortBy = field({ label: "Order", name: "sort", control: h("select", {},
    Object.entries(SORTS).map(([value, s]) => h("option", { value }, s.label))) });
  const onlyFavourites = h("div", { class: "field checkbox" },
    h("input", { type: "checkbox", id: "only-favourites", name: "favourites" }),
    h("label", { for: "only-favourites" }, "Only my favourites (☆ to add)"));
  const results = h("div", { "aria-live": "polite" }, loading("Loading prices…"));
  replace(ctx.main, pageHeader("Prices"),
    h("p", { class: "lead" }, "What one number costs, per service and country. You pay only for numbers that get an SMS: ",
      "canceled and expired numbers are refunded. “Got a code” is the share of our numbers there that received one."),
    h("div", { class: "filters card", role: "search" }, serviceFilter, countryFilter, sortBy, onlyFavourites), results);
  let cat = null;
  let shown = PAGE_ROWS;
  const show = () => {
    const s = serviceFilter.querySelector("input").value.trim().toLowerCase();
    const c = countryFilter.querySelector("input").value.trim().toLowerCase();
    const liked = favourites.all();
    const only = onlyFavourites.querySelector("input").checked;
    const compare = SORTS[sortBy.querySelector("select").value]?.compare;
    const rows = cat.offers.filter((o) => matches(s, o.service, serviceName(cat, o.service))
      && matches(c, countryName(cat, o.country)) && (!only || liked.has(String(o.service))))
      .sort((a, b) => liked.has(String(b.service)) - liked.has(String(a.service))
        || (compare ? compare(a, b) : 0) || rank(a.service) - rank(b.service)
        || serviceName(cat, a.service).localeCompare(serviceName(cat, b.service)) || a.price_cents - b.price_cents);
    const more = h("button", { type: "button", class: "secondary", id: "more-prices",
      onclick: () => { shown += PAGE_ROWS; show(); } }, "Show more");
    replace(results, rows.length ? priceTable(cat, rows.slice(0, shown), show)
      : empty(!cat.offers.length ? "No numbers are on offer right now. This page refreshes itself; try again soon."
        : only ? "None of your favourites match. Untick “Only my favourites” to see every price."
          : "No prices match your search. Try a shorter name."),
    rows.length > shown ? h("p", { class: "muted" }, `Showing ${shown} of ${rows.length}. `, more) : null);
  };
  const restart = () => { shown = PAGE_ROWS; if (cat) show(); };
  sortBy.querySelector("select").addEventListener("change", restart);
  onlyFavourites.querySelector("input").addEventListener("change", restart);
  const load = async () => {
    cat = await loadCatalog();
    if (ctx.isCurrent()) show();
  };
  serviceFilter.addEventListener("input", restart);
  countryFilter.addEventListener("input", restart);
  await load();
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

function priceTable(cat, rows, redraw) {
  const signedIn = Boolean(session.token());
  return table([
    { label: "Service", cell: (o) => h("span", { class: "service-cell" }, favouriteButton(cat, o.service, redraw),
      serviceName(cat, o.service)) },
    { label: "Country", cell: (o) => countryName(cat, o.country) },
    { label: "Price", class: "num", cell: (o) => money(o.price_cents) },
    { label: "Stock", class: "num", cell: stock },
    { label: "Got a code (24 h)", class: "num", cell: success },
    { label: "", class: "action", cell: (o) => (o.available > 0 ? h("a", {
      class: "button small", href: signedIn ? `#/buy?service=${o.service}&country=${o.country}` : "#/register",
      "aria-label": `Buy: ${serviceName(cat, o.service)} number in ${countryName(cat, o.country)}`,
    }, "Buy") : "") },
  ], rows, "Prices by service and country", "prices");
}

export async function buyPage(ctx) {
  replace(ctx.main, pageHeader("Buy a number"), loading("Loading the catalog…"));
  const cat = await loadCatalog();
  const state = { service: ctx.query.get("service"), country: ctx.query.get("country"), quantity: 1 };
  const serviceSearch = field({ label: "Find a service", name: "service-search", type: "search",
    placeholder: "Telegram, WhatsApp, Google…" });
  const serviceList = h("div", { class: "choice-grid", role: "group", "aria-label": "Services" });
  const countrySearch = field({ label: "Find a country", name: "country-search", type: "search", placeholder: "e.g. United Kingdom" });
  const countryList = h("div", { "aria-live": "polite", id: "country-offers" });
  // Several numbers of one service and country in one order (POST /v1/activations/bulk): each its own number,
  // charged together; the part partners cannot fill is refunded at once.
  const quantity = field({ label: "How many numbers", name: "quantity", type: "number", min: 1, max: MAX_QUANTITY,
    value: 1, inputmode: "numeric", hint: `1 to ${MAX_QUANTITY}, each its own number at the price shown.` });
  quantity.querySelector("input").addEventListener("input", (event) => {
    const wanted = Number(event.target.value);
    state.quantity = Number.isInteger(wanted) && wanted >= 1 && wanted <= MAX_QUANTITY ? wanted : 1;
    state.country = null; // the link's country had its focus on arrival; typing here keeps the focus here
    renderCountries();
  });
  const message = h("div");
  const step2 = h("section", { class: "card", "aria-labelledby": "step-country" },
    h("h2", { id: "step-country" }, "2. Choose a country"), countrySearch, quantity, countryList);

  const renderServices = () => {
    const text = serviceSearch.querySelector("input").value.trim().toLowerCase();
    const liked = favourites.all();
    const codes = [...new Set(cat.offers.map((o) => String(o.service)))]
      .filter((code) => matches(text, code, serviceName(cat, code)))
      .sort((a, b) => liked.has(b) - liked.has(a) || rank(a) - rank(b)
        || serviceName(cat, a).localeCompare(serviceName(cat, b)));
    replace(serviceList, codes.length ? codes.slice(0, 24).map((code) => h("button", {
      type: "button", class: "choice", "aria-pressed": String(code === state.service), "data-service": code,
      onclick: () => { state.service = code; renderServices(); renderCountries(); },
    }, serviceName(cat, code))) : h("p", { class: "muted" }, "No service matches."));
  };

  const renderCountries = () => {
    step2.hidden = !state.service;
    if (!state.service) return;
    const text = countrySearch.querySelector("input").value.trim().toLowerCase();
    const offers = cat.offers.filter((o) => String(o.service) === state.service
      && matches(text, countryName(cat, o.country)))
      .sort((a, b) => (b.available > 0) - (a.available > 0) || a.price_cents - b.price_cents);
    replace(countryList, offers.length ? table([
      { label: "Country", cell: (o) => countryName(cat, o.country) },
      { label: "Price", class: "num", cell: (o) => money(o.price_cents, ctx.me?.currency) },
      { label: "Stock", class: "num", cell: stock },
      { label: "Got a code (24 h)", class: "num", cell: success },
      { label: "Operator", cell: operatorChoice },
      { label: "", class: "action", cell: (o) => buyButton(o) },
    ], offers, `${serviceName(cat, state.service)} numbers by country`, "offers")
      : empty("No country matches for this service."));
  };

  // Where partners name operators, people may pick one (a number of that carrier) or leave it to us (any).
  const operatorChoice = (offer) => {
    if (!offer.operators.length) return h("span", { class: "muted" }, "Any");
    return h("select", { class: "operator", "data-country": offer.country,
      "aria-label": `Operator for ${countryName(cat, offer.country)}` },
    h("option", { value: "" }, "Any operator"), offer.operators.map((name) => h("option", { value: name }, name)));
  };

  const buyButton = (offer) => {
    const name = `${serviceName(cat, offer.service)} in ${countryName(cat, offer.country)}`;
    // WCAG 2.5.3: the accessible name begins with the visible text, so "click Buy $0.50" works by voice.
    const count = state.quantity;
    const each = money(offer.price_cents, ctx.me?.currency);
    const visible = count > 1 ? `Buy ${count} × ${each}` : `Buy ${each}`;
    const button = h("button", { type: "button", class: "primary small", disabled: !(offer.available >= count),
      "data-country": offer.country, "aria-label": `${visible}: ${name}` }, visible);
    button.addEventListener("click", () => buy(ctx, offer, button, message, name, count));
    if (String(offer.country) === state.country) queueMicrotask(() => button.focus());
    return button;
  };

  serviceSearch.addEventListener("input", renderServices);
  countrySearch.addEventListener("input", renderCountries);
  replace(ctx.main, pageHeader("Buy a number", balanceNote(ctx)), message,
    h("section", { class: "card", "aria-labelledby": "step-service" },
      h("h2", { id: "step-service" }, "1. Choose a service"), serviceSearch, serviceList),
    step2);
  renderServices();
  renderCountries();
}

const rank = (code) => (POPULAR.includes(code) ? POPULAR.indexOf(code) : POPULAR.length);

function balanceNote(ctx) {
  if (!ctx.me) return null;
  return h("span", { class: "muted", id: "buy-balance" }, balanceParts(ctx.me), " · ", h("a", { href: "#/topup" }, "Top up"));
}

async function buy(ctx, offer, button, message, name, count = 1) {
  button.disabled = true;
  replace(message);
  const operator = button.closest("tr")?.querySelector("select.operator")?.value;
  try {
    const chosen = { service: offer.service, country: offer.country, ...(operator ? { operator } : {}) };
    if (count > 1) {
      const batch = await post("/v1/activations/bulk", { ...chosen, count });
      toast(batch.refunded_cents
        ? `${batch.issued} of ${count} numbers issued; ${money(batch.refunded_cents)} for the rest went back to your balance.`
        : `${batch.issued} numbers issued.`);
      ctx.navigate("/history");
      return;
    }
    const activation = await post("/v1/activations", chosen);
    ctx.navigate(`/activation/${activation.id}`);
  } catch (error) {
    button.disabled = false;
    replace(message, notice("error", buyError(error, name, ctx.me, operator)));
    message.scrollIntoView({ block: "nearest" });
  }
}

function buyError(error, name, me, operator) {
  if (error.code === "INSUFFICIENT_BALANCE") {
    const held = me && me.held_cents > 0
      ? ` ${money(me.held_cents, me.currency)} of it is held for your refund request and cannot be spent.` : "";
    return [error.message, held, " ", h("a", { href: "#/topup" }, "Top up your balance"), "."];
  }
  if (error.code === "NO_NUMBERS") return `No ${name} numbers are free right now. Try another country${
    operator ? " or any operator" : ""}, or again in a minute.`;
  if (error.code === "EMAIL_NOT_VERIFIED") return error.message;
  return error.message;
}
