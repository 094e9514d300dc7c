// The history of a run: each stay in a stage with its time spent, and between them the moves
// that are not stays (finished and how, abandoned, reactivated, switched here), so a stage
// entered twice says why.
import { duration, el, when } from "./dom.js";

// The events that explain a run beside its stays.
export const HISTORY_KINDS = ["INSTANCE_FINISHED", "INSTANCE_ABANDONED", "INSTANCE_REACTIVATED", "PROCESS_SWITCHED", "INSTANCE_MIGRATED"];

function said(event, instance, processName) {
  switch (event.kind) {
    case "INSTANCE_FINISHED": {
      const key = event.after?.outcome;
      const outcome = key ? instance.process.outcomes?.find((o) => o.key === key)?.label || key : "";
      const reason = event.after?.reason ? ` (${event.after.reason})` : "";
      return `Finished${outcome ? ` · ${outcome}` : ""}${reason}`;
    }
    case "INSTANCE_ABANDONED":
      return "Abandoned";
    case "INSTANCE_REACTIVATED":
      return "Reactivated";
    case "PROCESS_SWITCHED":
      return `Switched to ${processName(event.processId) || "this process"}`;
    default:
      return "Moved to a new process version";
  }
}

export function renderHistory(instance, events, processName) {
  const rows = [
    ...instance.history.map((visit) => ({ at: visit.enteredAt, order: 1, visit })),
    ...events.filter((e) => e.instanceId === instance.id).map((event) => ({ at: event.at, order: 0, event })),
  ].sort((a, b) => new Date(a.at) - new Date(b.at) || a.order - b.order);
  return el("section", { class: "history", "aria-labelledby": "history-title" },
    el("h2", { id: "history-title" }, "History"),
    el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": "history-title" },
      el("table", {},
        el("thead", {}, el("tr", {}, ["Stage or move", "When", "By", "Left", "Time spent"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows.map(({ visit, event }) => (visit
          ? el("tr", { "data-kind": "STAY" },
            el("td", {}, visit.stage.name),
            el("td", {}, when(visit.enteredAt)),
            el("td", {}, visit.enteredBy),
            el("td", {}, visit.exitedAt ? when(visit.exitedAt) : "still here"),
            el("td", {}, duration(visit.durationSeconds)))
          : el("tr", { class: "move", "data-kind": event.kind },
            el("td", {}, said(event, instance, processName)),
            el("td", {}, when(event.at)),
            el("td", {}, event.actor),
            el("td", {}, ""),
            el("td", {}, ""))))))));
}
