// Questions asked before a move that is hard to take back: a modal <dialog>, so focus stays
// inside it, Escape cancels, and focus returns to the control that opened it.
import { el } from "./dom.js";

// Opens a dialog titled `title` holding `body`; resolves to what `accept()` returns when the
// user confirms (`accept` may return null to keep the dialog open), or null when cancelled.
function ask({ title, body, confirm, danger = false, accept = () => true, first = null }) {
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Date.now()}`;
    const confirmButton = el("button", { type: "submit", class: danger ? "danger-filled" : "primary" }, confirm);
    const form = el("form", { method: "dialog" },
      el("h2", { id: titleId }, title),
      body,
      el("div", { class: "dialog-actions" },
        confirmButton,
        el("button", { type: "button", value: "cancel", onclick: () => dialog.close("cancel") }, "Cancel")));
    const dialog = el("dialog", { class: "ask", "aria-labelledby": titleId }, form);
    let answer = null;
    form.addEventListener("submit", (event) => {
      const result = accept();
      if (result === null) {
        event.preventDefault();
        return;
      }
      answer = result;
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(dialog.returnValue === "cancel" ? null : answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (first || confirmButton).focus();
  });
}

// "Abandon the process of X?" and the like: true when confirmed.
export async function confirmed({ title, text, confirm, danger = false }) {
  return (await ask({ title, body: el("p", {}, text), confirm, danger })) !== null;
}

// How the run ended: one of the process's `outcomes`, with a reason where the outcome asks for
// one. Resolves to { outcome, reason } or null when cancelled.
export function chooseOutcome(what, outcomes) {
  const reasonInput = el("textarea", { id: "finish-reason", rows: "3", maxlength: "500", "aria-describedby": "finish-reason-note" });
  const note = el("p", { id: "finish-reason-note", class: "step-note" });
  const radios = outcomes.map((outcome, index) => {
    const radio = el("input", { type: "radio", name: "outcome", id: `outcome-${outcome.key}`, value: outcome.key, required: true, checked: index === 0 });
    radio.addEventListener("change", show);
    return el("label", { class: "choice" }, radio, ` ${outcome.label}`, outcome.reasonRequired ? el("small", {}, " (asks for a reason)") : "");
  });
  const chosen = () => outcomes.find((o) => document.getElementById(`outcome-${o.key}`)?.checked);
  const reasonLabel = el("label", { for: "finish-reason" }, "Reason");
  function show() {
    const outcome = chosen();
    reasonLabel.textContent = outcome?.reasonRequired ? "Reason (required)" : "Reason (optional)";
    note.textContent = "";
    reasonInput.removeAttribute("aria-invalid");
  }
  const body = el("div", { class: "finish" },
    el("fieldset", {}, el("legend", {}, `How did ${what} end?`), radios),
    el("div", { class: "step" }, reasonLabel, reasonInput, note));
  setTimeout(show);
  return ask({
    title: "Finish the process",
    body,
    confirm: "Finish",
    first: radios[0]?.querySelector("input"),
    accept() {
      const outcome = chosen();
      const reason = reasonInput.value.trim();
      if (outcome?.reasonRequired && !reason) {
        note.textContent = `${outcome.label} asks for a reason.`;
        reasonInput.setAttribute("aria-invalid", "true");
        reasonInput.focus();
        return null;
      }
      return { outcome: outcome.key, reason: reason || null };
    },
  });
}
