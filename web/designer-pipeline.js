// The pipeline's part of the editor's form: which field of the entity is the amount and
// which the close date (process level), and each stage's probability of ending won. The
// insights page weighs the pipeline by them. Mixed into Editor.
import { el } from "./dom.js";
import { control } from "./designer-controls.js";

const AMOUNT_TYPES = ["MONEY", "NUMBER"];

export const pipelineParts = {
  // A select of the entity's fields of `types`, with none as the first choice; a field the
  // entity lacks (or of another type) stays shown, marked, for the designer to change.
  measureSelect(part, types, none) {
    const d = this.definition;
    const fields = this.entity.fields.filter((field) => types.includes(field.type));
    const select = el("select", {}, el("option", { value: "" }, none),
      fields.map((field) => el("option", { value: field.key }, field.label)));
    const current = d[part];
    if (current && !fields.some((field) => field.key === current)) {
      const found = this.field(current);
      select.append(el("option", { value: current }, found ? `${found.label} (not a fitting field)` : `${current} (no such field)`));
    }
    select.value = current ?? "";
    select.addEventListener("change", () => {
      if (select.value) d[part] = select.value;
      else delete d[part];
      this.changed();
    });
    return select;
  },

  pipelinePart() {
    return el("div", { class: "d-grid d-pipeline" },
      control("Amount field", this.measureSelect("amount_field", AMOUNT_TYPES, "None: no pipeline"), "amount_field",
        "The money or number field the pipeline adds up, on the Insights page."),
      control("Close date field", this.measureSelect("close_date_field", ["DATE"], "None"), "close_date_field",
        "The date field that spreads the pipeline by close month."));
  },

  // A whole percentage; empty: the stage does not weigh the pipeline. What is typed goes to
  // the draft as a number when it is one, so the server can say what is wrong with it.
  probabilityPart(stage, path) {
    const input = el("input", { type: "number", min: 0, max: 100, step: 1, inputmode: "numeric",
      value: stage.probability ?? "", "data-probability": "" });
    input.addEventListener("input", () => {
      const text = input.value.trim();
      if (text === "") delete stage.probability;
      else stage.probability = Number(text);
      this.changed();
    });
    return el("div", { class: "d-grid d-probability" },
      control("Probability (%)", input, `${path}.probability`,
        "How likely a record in this stage ends won, 0 to 100: weighs the pipeline. Empty: not weighed."));
  },
};
