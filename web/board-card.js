// A board card: what a rep scans for (amount, owner, time in stage, what is missing) and the
// moves the card offers. A move the gate would refuse stays focusable, marked aria-disabled,
// with its reason on the card, so keyboard and screen reader users learn why.
import { dueIn, el, elapsed, money } from "./dom.js";

// The fields a card reads from a record and its shown instance.
export const CARD_FIELDS = `id name owner values
  activeInstance {
    id version status activeSince dueAt overdue canAdvance canFinish process { id }
    activeStage { key name isLast }
    nextStage { key name }
    path { key name }
    missingSteps { field { key label } }
  }`;

// The record's money value: the entity's first MONEY field that holds one.
export function amount(record, fields) {
  const field = fields.find((f) => f.type === "MONEY" && record.values?.[f.key] != null && record.values[f.key] !== "");
  return field ? { label: field.label, text: money(record.values[field.key], field.currency) } : null;
}

// A rep scans for days: under one, the stay began today.
export function inStage(since, now = new Date()) {
  return now - new Date(since) < 86_400_000 ? "in stage since today" : `${elapsed(since, now)} in stage`;
}

// Marks a control refused (or busy) without taking it out of the tab order.
export function refuse(control, refused) {
  if (refused) control.setAttribute("aria-disabled", "true");
  else control.removeAttribute("aria-disabled");
}

export function isRefused(control) {
  return control.getAttribute("aria-disabled") === "true";
}

// `act(kind, record, target)` makes a move: kind is "advance", "finish" or "back".
export function card(record, { fields, names, act }) {
  const instance = record.activeInstance;
  const why = `why-${instance.id}`;
  const missing = instance.missingSteps.map((m) => m.field.label);
  const worth = amount(record, fields);
  const facts = [record.owner, inStage(instance.activeSince)];
  const due = instance.dueAt && instance.status === "ACTIVE" ? dueIn(instance.dueAt, { overdue: instance.overdue }) : null;
  if (missing.length) facts.push(missing.length === 1 ? "1 step missing" : `${missing.length} steps missing`);

  const actions = el("div", { class: "card-actions" });
  const last = instance.activeStage.isLast || !instance.nextStage;
  const primary = last
    ? control("finish", "Finish", !instance.canFinish)
    : control("advance", `Advance to ${names.get(instance.nextStage.key) || instance.nextStage.name}`, !instance.canAdvance);
  actions.append(primary);

  const back = instance.path.slice(0, -1).reverse();
  if (back.length) {
    const choice = el("select", { "aria-label": `Stage to move ${record.name} back to`, "data-move": "choice" },
      el("option", { value: "" }, "Back to…"),
      back.map((s) => el("option", { value: s.key }, names.get(s.key) || s.name)));
    const go = el("button", { type: "button", "data-move": "back", "aria-label": `Move back: ${record.name}` }, "Move back");
    // Choosing a stage moves nothing: the button confirms (a select may change by arrow keys).
    go.addEventListener("click", () => {
      if (!isRefused(go)) act("back", record, choice.value);
    });
    actions.append(el("span", { class: "move-back" }, choice, go));
  }

  return el("li", { class: `card${due?.late ? " overdue" : ""}`, draggable: "true", tabindex: "-1", "data-instance": instance.id, "data-record": record.id,
    ondragstart: (event) => event.dataTransfer.setData("text/plain", instance.id) },
    el("a", { href: `#/records/${record.id}` }, record.name),
    due?.late ? el("p", { class: "overdue-flag", "data-overdue": "true" }, el("span", { "aria-hidden": "true" }, "⚑ "), due.text) : "",
    worth ? el("p", { class: "amount" }, el("span", { class: "visually-hidden" }, `${worth.label}: `), worth.text) : "",
    el("p", { class: "meta" }, facts.join(" · ")),
    missing.length ? el("p", { class: "missing", id: why }, `Missing: ${missing.join(", ")}`) : "",
    actions);

  function control(kind, text, refused) {
    const button = el("button", { type: "button", class: kind === "finish" ? "primary" : "", "data-move": kind,
      "aria-label": `${text}: ${record.name}`, "aria-describedby": refused && missing.length ? why : null }, text);
    if (refused) button.dataset.gate = "refused";
    refuse(button, refused);
    button.addEventListener("click", () => {
      if (!isRefused(button)) act(kind, record, null);
    });
    return button;
  }
}

// While a move is on its way the card's controls refuse activation but keep focus.
export function hold(node, busy) {
  node.setAttribute("aria-busy", String(busy));
  node.draggable = !busy;
  for (const control of node.querySelectorAll("button[data-move]")) {
    refuse(control, busy || control.dataset.gate === "refused");
  }
}
