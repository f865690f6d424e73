// Support: open a ticket, read the answers, reply.

import { get, items, post } from "./api.js";
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
