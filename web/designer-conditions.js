// The condition of a branch: comparisons and nested all / any / not groups, each control
// fitting the field it tests, of the stage's record or of a record before it. Mixed into Editor.
import { el, fieldInput } from "./dom.js";
import { control, button, nextId } from "./designer-controls.js";
import { CONDITION_KINDS, OPERATORS, convert, kindOf, placeOf } from "./designer-model.js";

export const conditionParts = {
  // A condition: a comparison, or an all / any / not group of conditions, nested.
  conditionEditor(condition, path, replace, remove) {
    if (!condition || typeof condition !== "object") {
      condition = { field: "", op: "eq" };
      replace(condition);
    }
    const kind = kindOf(condition);
    const kindSelect = el("select", {}, CONDITION_KINDS.map(([value, text]) => el("option", { value }, text)));
    kindSelect.value = kind;
    kindSelect.addEventListener("change", () => {
      replace(convert(condition, kindSelect.value));
      this.restructure(this.at(path, "select"));
    });
    const box = el("div", { class: `d-condition d-kind-${kind}`, "data-path": path },
      el("div", { class: "d-condition-head" },
        control("Condition", kindSelect, null),
        remove ? button("Remove", remove, { "aria-label": "Remove this condition", class: "d-danger" }) : null),
      el("div", { class: "d-slot" }));
    if (kind === "compare") {
      box.append(this.comparison(condition, this.definition.stages[placeOf(path)?.stage]));
    } else if (kind === "not") {
      box.append(this.conditionEditor(condition.not, `${path}.not`, (inner) => (condition.not = inner)));
    } else {
      if (!Array.isArray(condition[kind])) condition[kind] = [];
      const items = condition[kind];
      box.append(
        el("ul", { class: "d-group" }, items.map((item, k) => el("li", {},
          this.conditionEditor(item, `${path}.${kind}[${k}]`, (inner) => (items[k] = inner), () => {
            items.splice(k, 1);
            this.restructure(this.at(path, "select"));
          })))),
        el("div", { class: "d-row-actions" },
          button("Add comparison", () => {
            items.push({ field: "", op: "eq" });
            this.restructure(this.at(`${path}.${kind}[${items.length - 1}]`, ".d-compare select"));
          }),
          button("Add group", () => {
            items.push({ [kind === "all" ? "any" : "all"]: [{ field: "", op: "eq" }] });
            this.restructure(this.at(`${path}.${kind}[${items.length - 1}]`, "select"));
          })),
      );
    }
    return box;
  },

  // A comparison in a branch of `stage`.
  comparison(node, stage) {
    const find = (key) => this.conditionField(stage, key);
    const field = el("select", {}, this.fieldOptions(node.field, "Choose a field…", this.conditionFields(stage), find(node.field)));
    field.value = node.field ?? "";
    const op = el("select", {}, OPERATORS.map(([value, text]) => el("option", { value }, text)));
    if (node.op && !OPERATORS.some(([value]) => value === node.op)) op.append(el("option", { value: node.op }, String(node.op)));
    op.value = node.op ?? "eq";
    const value = el("div", { class: "d-value" });
    const renderValue = () => value.replaceChildren(this.valueControl(node, find(node.field)));
    field.addEventListener("change", () => {
      const before = find(node.field)?.type;
      node.field = field.value;
      if (find(node.field)?.type !== before && node.op !== "is_set") delete node.value;
      renderValue();
      this.changed();
    });
    op.addEventListener("change", () => {
      const before = node.op;
      node.op = op.value;
      if (node.op === "is_set") node.value = true;
      else if (before === "is_set") delete node.value;
      else if (node.op === "in" && node.value !== undefined && !Array.isArray(node.value)) node.value = [node.value];
      else if (node.op !== "in" && Array.isArray(node.value)) node.value = node.value[0];
      if (node.value === undefined) delete node.value;
      renderValue();
      this.changed();
    });
    renderValue();
    return el("div", { class: "d-compare" }, control("Field", field, null), control("Operator", op, null), value);
  },

  // The value of a comparison of `field` (undefined: a field unknown here).
  valueControl(node, field) {
    const set = (value) => {
      if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) delete node.value;
      else node.value = value;
      this.changed();
    };
    if (node.op === "is_set") {
      const select = el("select", {}, el("option", { value: "true" }, "yes"), el("option", { value: "false" }, "no"));
      select.value = node.value === false ? "false" : "true";
      select.addEventListener("change", () => set(select.value === "true"));
      return control("Value", select, null);
    }
    if (node.op === "in") {
      const current = Array.isArray(node.value) ? node.value : [];
      if (field?.type === "CHOICE") {
        const boxes = field.choices.map((choice) => {
          const box = el("input", { type: "checkbox", value: choice, checked: current.includes(choice) });
          box.addEventListener("change", () => set(boxes.filter((b) => b.checked).map((b) => b.value)));
          return box;
        });
        return el("fieldset", { class: "d-choices" }, el("legend", {}, "Values"),
          boxes.map((box) => el("label", {}, box, ` ${box.value}`)));
      }
      const input = el("input", { value: current.join(", "), autocomplete: "off" });
      input.addEventListener("input", () => {
        // The server reads each value as the field's type.
        set(input.value.split(",").map((part) => part.trim()).filter(Boolean));
      });
      return control("Values, separated by commas", input, null);
    }
    if (!field) {
      const input = el("input", { value: node.value ?? "", autocomplete: "off" });
      input.addEventListener("input", () => set(input.value === "" ? null : input.value));
      return control("Value", input, null);
    }
    const typed = fieldInput(field, node.value, nextId("value"));
    const read = () => set(typed.read());
    typed.input.addEventListener("input", read);
    typed.input.addEventListener("change", read);
    return control("Value", typed.input, null);
  },
};
