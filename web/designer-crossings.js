// The entities a process runs across: after its first, the crossings in order, each with
// the lookup that points back at the record before and the values copied into its new
// record; which entity each stage works on; and the fields a stage's steps and branch
// conditions may name. Mixed into Editor.
import { el, titleCase } from "./dom.js";
import { button, control } from "./designer-controls.js";

// As the server counts them: the first entity and its crossings.
const MAX_ENTITIES = 5;

const fieldText = (field) => `${field.label} (${titleCase(field.type)})`;
// A field of an earlier record, named as conditions and maps name it: lead.budget_amount.
const named = (entity, field) => ({ ...field, key: `${entity.key}.${field.key}`, label: `${entity.name}: ${field.label}` });
// A map joins fields of one type; two lookups, only when they point at the same entity.
const sameType = (a, b) => a.type === b.type && (a.target ?? null) === (b.target ?? null);

export const crossingParts = {
  // The working copy's crossings: a list of mappings, each with a list of values to copy.
  takeCrossings(definition) {
    const crossings = Array.isArray(definition.crossings) ? definition.crossings : [];
    definition.crossings = crossings.map((crossing) => (crossing && typeof crossing === "object" ? crossing : {}));
    for (const crossing of definition.crossings) {
      if (!Array.isArray(crossing.map)) crossing.map = [];
      crossing.map = crossing.map.map((row) => (row && typeof row === "object" ? row : {}));
    }
  },

  entityNamed(key) {
    return this.entities.find((entity) => entity.key === key) ?? { key, name: key || "Unknown entity", fields: [] };
  },

  // The entities the process runs across, in order: its own first, then each crossing's.
  chain() {
    return [this.entity, ...this.definition.crossings.map((crossing) => this.entityNamed(crossing.entity))];
  },

  // Where the record `stage` works on stands in the chain; an entity not on it counts as the
  // first, as the server reads it.
  stagePosition(stage) {
    const at = stage?.entity ? this.chain().findIndex((entity) => entity.key === stage.entity) : 0;
    return Math.max(at, 0);
  },

  stageEntity(stage) {
    return this.chain()[this.stagePosition(stage)];
  },

  // What a branch after `stage` may test: its own record's fields, then those of the
  // records before it on the chain, named with their entity.
  conditionFields(stage) {
    const chain = this.chain();
    const at = this.stagePosition(stage);
    const earlier = chain.slice(0, at).flatMap((entity) => entity.fields.map((field) => named(entity, field)));
    return [...chain[at].fields, ...earlier];
  },

  // The field a condition of `stage` names: one offered, or, on a process across entities,
  // a field of its own record named with its entity.
  conditionField(stage, key) {
    const found = this.conditionFields(stage).find((field) => field.key === key);
    if (found || this.definition.crossings.length === 0 || typeof key !== "string") return found;
    const own = this.stageEntity(stage);
    const field = own.fields.find((f) => key === `${own.key}.${f.key}`);
    return field && named(own, field);
  },

  conditionLabel(stage, key) {
    return this.conditionField(stage, key)?.label ?? key;
  },

  // The stage's "Works on": shown once the process runs across entities, or while the stage
  // names another entity, so that a wrong one can be put right.
  worksOnPart(stage, path) {
    const chain = this.chain();
    if (chain.length === 1 && (stage.entity ?? this.entity.key) === this.entity.key) return null;
    const select = el("select", {}, chain.map((entity) => el("option", { value: entity.key }, entity.name)));
    if (stage.entity && !chain.some((entity) => entity.key === stage.entity)) {
      select.append(el("option", { value: stage.entity }, `${stage.entity} (not on the process)`));
    }
    select.value = stage.entity ?? this.entity.key;
    select.addEventListener("change", () => {
      // The first entity is left unnamed, as in the server's file form.
      if (select.value === this.entity.key) delete stage.entity;
      else stage.entity = select.value;
      this.restructure(this.at(`${path}.entity`, "select"));
      this.say(`${stage.name || stage.key} works on ${this.stageEntity(stage).name}: its steps are fields of it.`);
    });
    return control("Works on", select, `${path}.entity`, "The record this stage works on; its steps are fields of it.");
  },

  crossingsPart() {
    const chain = this.chain();
    return el("section", { class: "d-card d-crossings", "data-path": "crossings", "aria-labelledby": "designer-crossings" },
      el("h2", { id: "designer-crossings" }, "Entities"),
      el("div", { class: "d-slot" }),
      el("p", { class: "d-hint" }, `The process starts on a ${this.entity.name} record and may go on to records of other entities, in this order. `
        + "The first stage of each creates its record, or links one, which points back at the record before by a lookup field."),
      el("ol", { class: "d-chain" },
        el("li", {}, el("h3", {}, `1. ${this.entity.name}`)),
        this.definition.crossings.map((crossing, i) => this.crossingCard(crossing, i, chain))),
      this.addCrossingForm(chain));
  },

  crossingCard(crossing, i, chain) {
    const path = `crossings[${i}]`;
    const entity = chain[i + 1];
    const heading = el("h3", { id: `designer-crossing-${i}` }, `${i + 2}. ${entity.name}`);
    const last = i === chain.length - 2;
    const remove = () => {
      this.definition.crossings.splice(i, 1);
      const left = this.definition.stages.filter((stage) => stage.entity === entity.key).map((stage) => stage.name || stage.key);
      this.restructure(() => this.form.querySelector(".d-add-crossing select"));
      this.say(`${entity.name} removed from the process.${left.length ? ` Still working on it: ${left.join(", ")}; choose what they work on.` : ""}`);
    };
    return el("li", { class: "d-crossing", "data-path": path, "aria-labelledby": heading.id },
      el("header", {}, heading,
        last ? el("div", { class: "d-row-actions" },
          button("Remove", remove, { "aria-label": `Remove ${entity.name} from the process`, class: "d-danger" })) : null),
      el("div", { class: "d-slot" }),
      this.lookupPart(crossing, path, entity, chain[i]),
      this.mapPart(crossing, path, entity, chain.slice(0, i + 1)));
  },

  // Only the entity's lookups to the entity before it relate the two records.
  lookupPart(crossing, path, entity, before) {
    const lookups = entity.fields.filter((field) => field.type === "LOOKUP" && field.target === before.key);
    const label = `Lookup to ${before.name}`;
    if (lookups.length === 0 && !crossing.lookup) {
      return el("div", { class: "d-control", "data-path": `${path}.lookup` },
        el("p", { class: "d-label" }, label),
        el("p", { class: "d-note" }, `${entity.name} has no lookup to ${before.name}: add one with New field on a stage that works on ${entity.name}, `
          + `of type Lookup, pointing at records of ${before.name}.`));
    }
    const select = el("select", {}, el("option", { value: "" }, "Choose a lookup…"),
      lookups.map((field) => el("option", { value: field.key }, field.label)));
    if (crossing.lookup && !lookups.some((field) => field.key === crossing.lookup)) {
      const found = entity.fields.find((field) => field.key === crossing.lookup);
      select.append(el("option", { value: crossing.lookup }, `${found?.label ?? crossing.lookup} (${found ? `not a lookup to ${before.name}` : "no such field"})`));
    }
    select.value = crossing.lookup ?? "";
    select.addEventListener("change", () => {
      crossing.lookup = select.value;
      this.changed();
    });
    return control(label, select, `${path}.lookup`, `The field of ${entity.name} that holds the ${before.name} it came from.`);
  },

  // The values copied into the new record: each a field of it, from a field of the same type
  // of a record before it.
  mapPart(crossing, path, entity, earlier) {
    const rows = crossing.map.map((row, j) => this.mapRow(crossing, row, `${path}.map[${j}]`, j, entity, earlier));
    const add = () => {
      crossing.map.push({ field: "", from: "" });
      this.restructure(this.at(`${path}.map[${crossing.map.length - 1}].field`, "select"));
    };
    return el("fieldset", { class: "d-map", "data-path": `${path}.map` },
      el("legend", {}, `Values copied into the new ${entity.name}`),
      el("div", { class: "d-slot" }),
      rows.length ? el("ol", {}, rows) : el("p", { class: "d-empty" }, "No values copied."),
      button("Add a value", add, { class: "d-add-carry" }));
  },

  mapRow(crossing, row, rowPath, j, entity, earlier) {
    const taken = new Set(crossing.map.filter((other) => other !== row).map((other) => other.field));
    const targets = entity.fields.filter((field) => field.key !== crossing.lookup && !taken.has(field.key));
    const target = el("select", {}, el("option", { value: "" }, "Choose a field…"), targets.map((field) => el("option", { value: field.key }, fieldText(field))));
    if (row.field && !targets.some((field) => field.key === row.field)) target.append(el("option", { value: row.field }, `${row.field} (not a field to fill)`));
    target.value = row.field ?? "";
    const source = el("select");
    const sources = () => {
      const field = entity.fields.find((f) => f.key === row.field);
      if (!field) return [];
      return earlier.flatMap((e) => e.fields.filter((f) => sameType(f, field)).map((f) => named(e, f)));
    };
    const fillSources = () => {
      const fits = sources();
      const none = !row.field ? "Choose the field first" : fits.length ? "Choose a field…" : "No field of the same type before it";
      source.replaceChildren(el("option", { value: "" }, none), ...fits.map((f) => el("option", { value: f.key }, fieldText(f))));
      if (row.from && !fits.some((f) => f.key === row.from)) source.append(el("option", { value: row.from }, `${row.from} (not of the same type)`));
      source.value = row.from ?? "";
    };
    target.addEventListener("change", () => {
      row.field = target.value;
      // A source that still fits stays; else the earlier field of the same key, if it fits.
      const fits = sources();
      if (!fits.some((f) => f.key === row.from)) row.from = fits.find((f) => f.key.endsWith(`.${row.field}`))?.key ?? "";
      fillSources();
      this.changed();
    });
    source.addEventListener("change", () => {
      row.from = source.value;
      this.changed();
    });
    fillSources();
    const label = entity.fields.find((f) => f.key === row.field)?.label ?? `value ${j + 1}`;
    return el("li", { class: "d-carry", "data-path": rowPath },
      control(`${entity.name} field`, target, `${rowPath}.field`),
      control("Copied from", source, `${rowPath}.from`),
      el("div", { class: "d-row-actions" },
        button("Remove", () => {
          crossing.map.splice(j, 1);
          this.restructure(this.at(rowPath.replace(/\[\d+\]$/, ""), ".d-add-carry"));
        }, { "aria-label": `Remove copied value ${label}`, class: "d-danger" })));
  },

  addCrossingForm(chain) {
    if (chain.length >= MAX_ENTITIES) return el("p", { class: "d-hint" }, `A process runs across at most ${MAX_ENTITIES} entities.`);
    const on = new Set(chain.map((entity) => entity.key));
    const free = this.entities.filter((entity) => !on.has(entity.key));
    if (free.length === 0) return null;
    const before = chain.at(-1);
    const pick = el("select", { required: true }, el("option", { value: "" }, "Choose an entity…"),
      free.map((entity) => el("option", { value: entity.key }, entity.name)));
    return el("form", {
      class: "d-add-crossing",
      onsubmit: (event) => {
        event.preventDefault();
        if (!pick.value) return;
        const entity = this.entityNamed(pick.value);
        const lookups = entity.fields.filter((field) => field.type === "LOOKUP" && field.target === before.key);
        const { crossings } = this.definition;
        crossings.push({ entity: entity.key, lookup: lookups.length === 1 ? lookups[0].key : "", map: [] });
        this.restructure(this.at(`crossings[${crossings.length - 1}]`, ".d-control select, .d-add-carry"));
        this.say(`${entity.name} added after ${before.name}.${lookups.length ? "" : ` ${entity.name} has no lookup to ${before.name} yet.`}`);
      },
    }, control(`Go on from ${before.name} to`, pick, null), el("button", { type: "submit" }, "Add entity"));
  },
};
