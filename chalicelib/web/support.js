// Support: open a ticket, read the answers, reply; signed out, the contact form (confirmed by an emailed link).

import { get, items, post, session } from "./api.js";
import { dateTime, empty, field, form, h, loading, notice, pageHeader, replace } from "./ui.js";

export async function supportPage(ctx) {
  const list = h("div", { "aria-live": "polite" }, loading("Loading your tickets…"));
  const show = async () => {
    const tickets = items(await get("/v1/support/tickets"));
    replace(list, tickets.length ? tickets.map((t) => ticketCard(t, show, ctx.query.get("ticket")))
      : empty("You have no tickets. Ask us anything: we answer by email and here."));
  };
  const newTicket = form({ class: "card", "aria-label": "New ticket" }, [
    h("h2", {}, "Write to support"),
    field({ label: "Subject", name: "subject", required: true, maxlength: "200" }),
    field({ label: "Message", name: "message", type: "textarea", rows: "5", required: true, maxlength: "5000",
      hint: "For a number, include its activation id or phone number." }),
    h("button", { type: "submit", class: "primary" }, "Send"),
  ], async (data, el) => {
    await post("/v1/support/tickets", { subject: String(data.get("subject")).trim(),
      message: String(data.get("message")).trim() });
    el.reset();
    el.prepend(notice("success", "Thank you. We answer within one business day."));
    await show();
  });
  replace(ctx.main, pageHeader("Support"), h("div", { class: "two-col" }, newTicket,
    h("section", { "aria-labelledby": "tickets-title" }, h("h2", { id: "tickets-title" }, "Your tickets"), list)));
  await show();
}

function ticketCard(ticket, refresh, openId) {
  const reply = form({ class: "reply", "aria-label": `Reply to ${ticket.subject}` }, [
    field({ label: "Your reply", name: "message", type: "textarea", rows: "3", required: true, maxlength: "5000" }),
    h("button", { type: "submit", class: "secondary" }, "Send reply"),
  ], async (data) => {
    await post(`/v1/support/tickets/${encodeURIComponent(ticket.ticket_id)}/messages`,
      { message: String(data.get("message")).trim() });
    await refresh();
  });
  const messages = ticket.messages || [];
  return h("details", { class: "card ticket", open: ticket.ticket_id === openId || null },
    h("summary", {}, h("span", { class: "ticket-subject" }, ticket.subject),
      h("span", { class: `badge ${ticket.status === "answered" ? "good" : "info"}` },
        ticket.status === "answered" ? "Answered" : "Waiting for us")),
    h("ol", { class: "messages" }, messages.map((m) => h("li", { class: `message ${m.author}` },
      h("p", { class: "muted small" }, `${m.author === "support" ? "Support" : "You"} · ${dateTime(m.created_at)}`),
      h("p", { class: "message-body" }, m.message)))),
    reply);
}

// Signed out (locked out, blocked, or not registered): the message waits for the link we email to the sender.
export async function contactPage(ctx) {
  const sent = h("div");
  const contactForm = form({ class: "card narrow", "aria-label": "Contact support" }, [
    h("p", {}, "Cannot sign in, or have no account? Write to us here. We email you a link to confirm your ",
      "address; your message reaches support once you open it, and we answer by email."),
    field({ label: "Your email", name: "email", type: "email", autocomplete: "email", required: true }),
    field({ label: "Subject", name: "subject", required: true, maxlength: "200" }),
    field({ label: "Message", name: "message", type: "textarea", rows: "6", required: true, maxlength: "5000" }),
    h("button", { type: "submit", class: "primary wide" }, "Send"),
    h("p", { class: "muted center" }, h("a", { href: session.token() ? "#/support" : "#/login" },
      session.token() ? "Your tickets" : "Back to sign in")),
  ], async (data) => {
    const email = String(data.get("email")).trim();
    await post("/v1/support/contact", { email, subject: String(data.get("subject")).trim(),
      message: String(data.get("message")).trim() });
    replace(sent, notice("success", h("strong", {}, "Check your inbox. "),
      `We sent a link to ${email}. Open it within 24 hours to send your message to support.`));
    contactForm.replaceWith(sent);
  });
  replace(ctx.main, pageHeader("Contact support"), contactForm);
}

export async function contactConfirmPage(ctx) {
  const token = ctx.query.get("token");
  replace(ctx.main, pageHeader("Contact support"));
  if (!token) {
    ctx.main.append(notice("error", "This link has no token. Open the link from the email exactly as it was sent."));
    return;
  }
  const status = h("p", { class: "loading", role: "status" }, "Sending your message…");
  ctx.main.append(status);
  try {
    const ticket = await post("/v1/support/contact/confirm", { token });
    status.replaceWith(notice("success", h("strong", {}, "Your message is with support. "),
      `Ticket ${ticket.ticket_id}: we answer by email, usually within one business day.`));
  } catch (error) {
    status.replaceWith(notice("error", error.message, " ", h("a", { href: "#/contact" }, "Write to us again"), "."));
  }
}
