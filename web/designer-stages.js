// The stages part of the editor's form: each stage's card (name, key, category, the entity
// it works on, guidance, default next stage), its branches, adding, moving and removing
// stages. Mixed into Editor.
import { el, titleCase } from "./dom.js";
import { button, checkbox, control, nextId, textarea } from "./designer-controls.js";
import { CATEGORIES, KEY_PATTERN_HTML, newStageCategory, slug, usualOrder } from "./designer-model.js";

export const stageParts = {
  stageOption(stage) {
    return el("option", { value: stage.key ?? "", "data-stage": this.uid(stage) }, stage.name || stage.key || "Unnamed stage");
  },

  // A select of the other stages, with `empty` as the choice of none.
  stageSelect(current, stage, empty, onchange) {
    const others = this.definition.stages.filter((s) => s !== stage);
    const select = el("select", {}, el("option", { value: "" }, empty), others.map((s) => this.stageOption(s)));
    if (current && !others.some((s) => s.key === current)) select.append(el("option", { value: current }, `${current} (no such stage)`));
    select.value = current ?? "";
    select.addEventListener("change", () => onchange(select.value || null));
    return select;
  },

  isLinear() {
    const { stages } = this.definition;
    return stages.every((stage, i) => (i === stages.length - 1 ? !stage.next : stage.next === stages[i + 1].key));
  },

  relink() {
    const { stages } = this.definition;
    stages.forEach((stage, i) => {
      if (i === stages.length - 1) delete stage.next;
      else stage.next = stages[i + 1].key;
    });
  },

  // Stage keys are unique; a new stage's key follows its name until edited by hand.
  uniqueKey(base, stage) {
    const taken = new Set(this.definition.stages.filter((s) => s !== stage).map((s) => s.key));
    const start = base || "stage";
    let key = start;
    for (let n = 2; taken.has(key); n += 1) key = `${start.slice(0, 60)}_${n}`;
    return key;
  },

  // The places that lead to a stage, as setters, taken before its key is edited so that
  // they follow the key however it changes on the way.
  references(stage) {
    const { stages } = this.definition;
    if (!stage.key || stages.some((s) => s !== stage && s.key === stage.key)) return [];
    const refs = [];
    for (const s of stages) {
      if (s.next === stage.key) refs.push((key) => (s.next = key));
      for (const branch of s.branches) if (branch.to === stage.key) refs.push((key) => (branch.to = key));
    }
    return refs;
  },

  setStageKey(stage, key, refs) {
    stage.key = key;
    for (const ref of refs) ref(key);
    for (const option of this.form.querySelectorAll(`option[data-stage="${this.uid(stage)}"]`)) option.value = key;
  },

  addStageForm() {
    const name = el("input", { required: true, maxlength: 100, autocomplete: "off" });
    const form = el("form", {
      class: "d-add-stage",
      onsubmit: (event) => {
        event.preventDefault();
        const { stages } = this.definition;
        const text = name.value.trim();
        if (!text) return;
        const category = newStageCategory(text, stages, usualOrder(this.definition.entity, this.templates));
        const stage = { key: this.uniqueKey(slug(text, "_")), name: text, category, guidance: "", steps: [], branches: [] };
        const last = stages.at(-1);
        stages.push(stage);
        // A new stage follows the last one, as people add stages in flow order.
        if (last && !last.next && last.branches.length === 0) last.next = stage.key;
        this.autoKeys.add(stage);
        this.restructure(() => this.form.querySelector(".d-add-stage input"));
        this.say(`Stage ${text} added.`);
      },
    }, control("New stage name", name, null), el("button", { type: "submit" }, "Add stage"));
    return form;
  },

  // Up and down buttons; `before` runs before the move and its answer goes to `render`.
  moveButtons(list, index, what, render, before = () => null) {
    const move = (by) => () => {
      const state = before();
      const [item] = list.splice(index, 1);
      list.splice(index + by, 0, item);
      render(index + by, by < 0 ? "up" : "down", state);
    };
    return [
      button("Up", move(-1), { "aria-label": `Up: move ${what}`, disabled: index === 0, "data-move": "up" }),
      button("Down", move(1), { "aria-label": `Down: move ${what}`, disabled: index === list.length - 1, "data-move": "down" }),
    ];
  },

  // Focus the same move button on the moved item, or its other one at an end of the list.
  movedFocus(path, direction) {
    return () => {
      const node = this.at(path)();
      const same = node?.querySelector(`:scope > .d-row-actions [data-move="${direction}"], :scope > header [data-move="${direction}"]`);
      if (same && !same.disabled) return same;
      return node?.querySelector(`[data-move="${direction === "up" ? "down" : "up"}"]`);
    };
  },

  stageCard(stage, i) {
    const path = `stages[${i}]`;
    const stages = this.definition.stages;
    const label = () => stage.name || stage.key || "Unnamed stage";
    const heading = el("h3", { id: nextId("stage") }, `${i + 1}. ${label()}`);

    let refs = [];
    const takeRefs = () => (refs = this.references(stage));
    const key = el("input", { value: stage.key ?? "", maxlength: 64, pattern: KEY_PATTERN_HTML, autocomplete: "off", spellcheck: "false", onfocus: takeRefs });
    key.addEventListener("input", () => {
      this.autoKeys.delete(stage);
      this.setStageKey(stage, key.value, refs);
      this.changed();
    });
    const name = el("input", { value: stage.name ?? "", maxlength: 100, autocomplete: "off", onfocus: takeRefs });
    name.addEventListener("input", () => {
      stage.name = name.value;
      heading.textContent = `${i + 1}. ${label()}`;
      for (const option of this.form.querySelectorAll(`option[data-stage="${this.uid(stage)}"]`)) option.textContent = label();
      if (this.autoKeys.has(stage) && name.value.trim()) {
        this.setStageKey(stage, this.uniqueKey(slug(name.value, "_"), stage), refs);
        key.value = stage.key;
      }
      this.changed();
    });
    const category = el("select", {}, CATEGORIES.map((c) => el("option", { value: c }, titleCase(c))));
    if (stage.category && !CATEGORIES.includes(stage.category)) category.append(el("option", { value: stage.category }, String(stage.category)));
    category.value = stage.category ?? "";
    category.addEventListener("change", () => {
      stage.category = category.value;
      this.changed();
    });
    const guidance = textarea(stage.guidance, { rows: 2, maxlength: 2000 });
    guidance.addEventListener("input", () => {
      stage.guidance = guidance.value;
      this.changed();
    });
    const next = this.stageSelect(stage.next, stage, "None: this is a last stage", (value) => {
      if (value) stage.next = value;
      else delete stage.next;
      this.changed();
    });

    // In a straight line the stages around close the gap; elsewhere what led to the stage
    // stays, marked as leading to no stage, for the designer to decide.
    const remove = () => {
      const linear = this.isLinear();
      stages.splice(i, 1);
      if (linear) this.relink();
      const neighbour = `stages[${Math.min(i, stages.length - 1)}]`;
      this.restructure(() => this.at(`${neighbour}.name`, "input")() ?? this.form.querySelector(".d-add-stage input"));
      this.say(`Stage ${label()} removed.`);
    };
    // Stages that followed one another by default still do after a move.
    const moves = this.moveButtons(stages, i, `stage ${label()}`, (to, direction, linear) => {
      if (linear) this.relink();
      this.restructure(this.movedFocus(`stages[${to}]`, direction));
    }, () => this.isLinear());

    return el("li", { class: "d-stage", "data-path": path, "aria-labelledby": heading.id },
      el("header", {}, heading, el("div", { class: "d-row-actions" }, ...moves,
        button("Remove stage", remove, { "aria-label": `Remove stage ${label()}`, class: "d-danger" }))),
      el("div", { class: "d-slot" }),
      el("div", { class: "d-grid" },
        control("Name", name, `${path}.name`),
        control("Key", key, `${path}.key`),
        control("Category", category, `${path}.category`),
        this.worksOnPart(stage, path)),
      control("Guidance", guidance, `${path}.guidance`),
      this.duePart(stage, path),
      this.probabilityPart(stage, path),
      this.stepsPart(stage, path),
      this.branchesPart(stage, path),
      control("Default next stage", next, `${path}.next`, "Where the record goes when no branch applies."),
    );
  },

  // How long a record should stay: an ISO 8601 duration, and whether only weekdays count.
  // Cleared, the stage has no due (and so no business-days choice either).
  duePart(stage, path) {
    const due = el("input", { value: stage.due ?? "", maxlength: 40, autocomplete: "off", spellcheck: "false",
      placeholder: "P5D", inputmode: "text", "data-due": "" });
    const business = checkbox("Count business days only (Monday to Friday, UTC)", stage.due_business_days === true,
      `${path}.due_business_days`, (checked) => {
        if (checked) stage.due_business_days = true;
        else delete stage.due_business_days;
        this.changed();
      });
    const box = business.querySelector("input");
    box.disabled = !stage.due;
    due.addEventListener("input", () => {
      const text = due.value.trim();
      if (text) stage.due = text;
      else {
        delete stage.due;
        delete stage.due_business_days;
        box.checked = false;
      }
      box.disabled = !text;
      this.changed();
    });
    return el("div", { class: "d-grid d-due" },
      control("Due", due, `${path}.due`, "How long a record should stay here: P5D is 5 days, PT4H 4 hours, P2W 2 weeks. Empty: no due."),
      business);
  },

  branchesPart(stage, path) {
    const branches = stage.branches;
    const rows = branches.map((branch, j) => {
      const branchPath = `${path}.branches[${j}]`;
      const target = this.stageSelect(branch.to, stage, "Choose a stage…", (value) => {
        branch.to = value ?? "";
        this.changed();
      });
      return el("li", { class: "d-branch", "data-path": branchPath },
        el("header", {}, el("h4", {}, `Branch ${j + 1}`),
          el("div", { class: "d-row-actions" },
            ...this.moveButtons(branches, j, `branch ${j + 1}`, (to, direction) => this.restructure(this.movedFocus(`${path}.branches[${to}]`, direction))),
            button("Remove", () => {
              branches.splice(j, 1);
              this.restructure(this.at(`${path}.branches`, ".d-add-branch"));
            }, { "aria-label": `Remove branch ${j + 1}`, class: "d-danger" }))),
        el("div", { class: "d-slot" }),
        control("Go to", target, `${branchPath}.to`),
        el("div", { class: "d-when" }, el("p", { class: "d-label" }, "When"),
          this.conditionEditor(branch.when, `${branchPath}.when`, (condition) => (branch.when = condition))));
    });
    const add = () => {
      const index = this.definition.stages.indexOf(stage);
      const after = this.definition.stages[index + 1];
      branches.push({ to: after?.key ?? "", when: { field: "", op: "eq" } });
      this.restructure(this.at(`${path}.branches[${branches.length - 1}]`, ".d-compare select"));
    };
    return el("fieldset", { class: "d-branches", "data-path": `${path}.branches` },
      el("legend", {}, "Branches"),
      el("div", { class: "d-slot" }),
      el("p", { class: "d-hint" }, "After this stage, the first branch whose condition holds picks the next stage; otherwise the default next stage does."),
      rows.length ? el("ol", {}, rows) : null,
      button("Add branch", add, { class: "d-add-branch" }));
  },
};
