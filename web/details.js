// A record's values as people read them; a long one is shown in part, with a control to show
// it whole; a lookup links to its record (`names`: record id → name, where known).
import { display, el, recordLink } from "./dom.js";

export function renderDetails(fields, values, names) {
  const shown = (field) => (field.type === "LOOKUP" ? recordLink(values[field.key], names) : long(display(field, values[field.key])));
  const rows = [...fields.values()].filter((f) => f.key in values).map((field) =>
    el("div", {}, el("dt", {}, field.label), el("dd", { "data-field": field.key }, shown(field))));
  return el("section", { class: "details", "aria-labelledby": "details-title" },
    el("h2", { id: "details-title" }, "Details"),
    rows.length ? el("dl", {}, rows) : el("p", { class: "muted" }, "No values yet."));
}

const SHORT = 280;
function long(text) {
  if (text.length <= SHORT) return text;
  const rest = el("span", { hidden: true }, text.slice(SHORT));
  const more = el("span", { "aria-hidden": "true" }, "…");
  const toggle = el("button", { type: "button", class: "link", "aria-expanded": "false",
    onclick: () => {
      const open = rest.hidden;
      rest.hidden = !open;
      more.hidden = open;
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "Show less" : `Show all ${text.length} characters`;
    } }, `Show all ${text.length} characters`);
  return [text.slice(0, SHORT), more, rest, " ", toggle];
}
