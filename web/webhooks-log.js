// A webhook's delivery log: each delivery's time, event, state, answer and tries, newest
// first, with a Redeliver button for those delivered or given up.
import { announce } from "./announce.js";
import { el, titleCase, when } from "./dom.js";
import { deliveries, redeliver, refused } from "./webhooks-api.js";

const COLUMNS = ["Time", "Event", "Seq", "State", "Response", "Duration", "Attempts", "Next try", "Last error", ""];

// The log of `webhook`, loaded now; `more` pages on with "Show older deliveries".
export async function deliveryLog(webhook) {
  const caption = el("caption", { class: "visually-hidden" }, `Deliveries to ${webhook.url}`);
  const rows = el("tbody");
  const table = el("table", { class: "deliveries" }, caption,
    el("thead", {}, el("tr", {}, COLUMNS.map((name) => el("th", { scope: "col" }, name || el("span", { class: "visually-hidden" }, "Actions"))))),
    rows);
  const none = el("p", { class: "status" }, "Nothing delivered yet.");
  const message = el("p", { class: "form-message", role: "alert" });
  const older = el("button", { type: "button" }, "Show older deliveries");
  const box = el("div", { class: "delivery-log" }, el("div", { class: "table-scroll" }, table), none, older, message);
  let next = null;

  const more = async () => {
    older.disabled = true;
    try {
      const page = await deliveries(webhook.id, next);
      rows.append(...page.items.map((delivery) => row(delivery, message)));
      next = page.next;
    } catch (error) {
      message.textContent = error.message;
    } finally {
      older.disabled = false;
      older.hidden = !next;
      table.hidden = rows.children.length === 0;
      none.hidden = !table.hidden;
    }
  };
  older.addEventListener("click", more);
  await more();
  return box;
}

function cells(delivery) {
  const response = delivery.lastStatus ?? (delivery.attempts ? "no answer" : "—");
  return [
    el("td", {}, when(delivery.createdAt)),
    el("td", {}, titleCase(delivery.kind.replaceAll("_", " "))),
    el("td", {}, String(delivery.seq)),
    el("td", {}, el("span", { class: `badge delivery-${delivery.state.toLowerCase()}` }, titleCase(delivery.state))),
    el("td", {}, String(response)),
    el("td", {}, delivery.lastDurationMs == null ? "—" : `${delivery.lastDurationMs} ms`),
    el("td", {}, String(delivery.attempts)),
    el("td", {}, delivery.nextAt ? when(delivery.nextAt) : "—"),
    el("td", { class: "delivery-error" }, delivery.lastError ?? "—"),
  ];
}

function row(delivery, message) {
  const button = el("button", { type: "button", "aria-label": `Redeliver event ${delivery.seq}` }, "Redeliver");
  const tr = el("tr", { "data-delivery": delivery.id }, cells(delivery), el("td", {}, button));
  const draw = () => {
    tr.replaceChildren(...cells(delivery), el("td", {}, button));
    button.disabled = delivery.state === "PENDING";
  };
  button.addEventListener("click", async () => {
    const focused = document.activeElement === button;
    message.textContent = "";
    button.disabled = true;
    try {
      const result = await redeliver(delivery);
      const error = refused(result);
      if (error) {
        message.textContent = error.message;
        return;
      }
      Object.assign(delivery, result.delivery);
      announce(`Event ${delivery.seq} will be delivered again.`);
    } catch (error) {
      message.textContent = error.message;
    } finally {
      draw();
      if (button.disabled && focused) {
        // Disabled until the try is made: focus stays in the row, on its new state.
        const state = tr.children[3];
        state.tabIndex = -1;
        state.focus();
      }
    }
  });
  draw();
  return tr;
}
