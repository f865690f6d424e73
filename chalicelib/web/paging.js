// A history page that pages by `next_cursor` ("Show more") and whose filters (a select each) start it again.

import { get, items } from "./api.js";
import { empty, field, h, loading, notice, pageHeader, replace } from "./ui.js";

// A filtered page may come back empty with a cursor (the server reads a bounded slice per page): read on a little.
const EMPTY_PAGES_READ_ON = 5;

export async function pagedList(ctx, { title, actions, intro, path, filters = [], render, nothing }) {
  replace(ctx.main, pageHeader(title, actions), loading());
  const body = h("div");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show more");
  const selects = filters.map(({ name, options }) =>
    h("select", {}, options.map(([value, text]) => h("option", { value }, text))));
  const controls = filters.map(({ name, label }, i) => field({ label, name, control: selects[i] }));
  let rows = [];
  let cursor = null;
  const url = () => {
    const params = new URLSearchParams();
    for (const select of selects) if (select.value) params.set(select.name, select.value);
    if (cursor) params.set("cursor", cursor);
    const query = params.toString();
    return query ? `${path}?${query}` : path;
  };
  const load = async () => {
    for (let read = 0; read < EMPTY_PAGES_READ_ON; read += 1) {
      const data = await get(url());
      const found = items(data);
      rows = rows.concat(found);
      cursor = (data && data.next_cursor) || null;
      if (found.length || !cursor) break;
    }
    replace(body, rows.length ? render(rows) : empty(nothing));
    more.hidden = !cursor;
  };
  const failed = (error) => body.append(notice("error", error.message));
  more.addEventListener("click", () => load().catch(failed));
  for (const select of selects) {
    select.addEventListener("change", () => { rows = []; cursor = null; load().catch(failed); });
  }
  await load();
  replace(ctx.main, pageHeader(title, actions), intro,
    controls.length ? h("div", { class: "filters" }, controls) : null, body, more);
}
