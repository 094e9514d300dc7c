// The steps of one stage: an input per field, each with its own note underneath: saved, refused
// (in the field's words, with the refused value kept in the input), or what the gate still
// asks of it. Text, number and date inputs save on change; a select saves only when the user
// confirms it (Enter, or leaving it), so an arrow key never saves a value by itself.
import { el, fieldInput, recordLink } from "./dom.js";

// While the page redraws, the inputs it removes lose focus: that is not the user leaving them.
let quiet = false;
export function redrawing(draw) {
  quiet = true;
  try {
    draw();
  } finally {
    quiet = false;
  }
}

// Why the server refused a value, said of the field: "Estimated budget must be at least 0".
export function refusalOf(field, reason) {
  return `${field.label} ${reason}`;
}

// `notes` maps a field's key to { saved } or { error, raw } (this page's own saves and
// refusals); `save(field, value, shown)` sends a value; `names` maps the id of a record a
// lookup points at to its name, where known.
export function renderSteps({ stage, state, instance, values, notes, save, names }) {
  const editable = state !== "UPCOMING" && instance.status === "ACTIVE";
  const missing = new Set(state === "ACTIVE" ? instance.missingSteps.map((m) => m.field.key) : []);
  return stage.steps.map((step) => {
    const { field } = step;
    const id = `step-${field.key}`;
    const noteId = `note-${field.key}`;
    const note = notes.get(field.key);
    const shown = values[field.key];
    const { input, read } = fieldInput(field, shown, id);
    if (note?.error && note.raw !== undefined) input.value = note.raw;
    input.disabled = !editable;
    if (step.required) input.setAttribute("aria-required", "true");

    let text = "";
    let kind = "";
    if (note?.error) {
      text = note.error;
      kind = "error";
    } else if (missing.has(field.key)) {
      text = field.type === "BOOLEAN" && shown === false
        ? `${field.label} must be Yes to move on.`
        : `${field.label} is required to move on.`;
      kind = "error";
    } else if (note?.saved) {
      text = "Saved";
      kind = "saved";
    }
    if (kind === "error") input.setAttribute("aria-invalid", "true");
    if (text) input.setAttribute("aria-describedby", noteId);

    // `data-settled`: the value no longer the user's alone (shown by the server, or sent).
    input.dataset.settled = input.value;
    const send = () => {
      input.dataset.settled = input.value;
      save(field, read(), shown, input.value);
    };
    if (input.tagName === "SELECT") {
      let sent = shown;
      const sendIfChanged = () => {
        const value = read();
        if (quiet || JSON.stringify(value ?? null) === JSON.stringify(sent ?? null)) return;
        sent = value;
        send();
      };
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          sendIfChanged();
        }
      });
      input.addEventListener("blur", sendIfChanged);
    } else {
      input.addEventListener("change", send);
    }
    const link = field.type === "LOOKUP" && shown != null
      ? el("p", { class: "step-link" }, "Open ", recordLink(shown, names))
      : "";
    return el("div", { class: `step${kind === "error" ? " invalid" : ""}${missing.has(field.key) ? " missing" : ""}`, "data-step": field.key },
      el("label", { for: id }, field.label, step.required ? el("span", { class: "required", "aria-hidden": "true" }, " *") : ""),
      input,
      link,
      el("p", { id: noteId, class: `step-note ${kind}` }, kind === "saved" ? ["✓ ", text] : text));
  });
}
