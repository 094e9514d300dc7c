// The designer's rules about a definition in its file form, apart from the page: keys,
// the canonical form sent to the server, conditions and their short words, where a
// problem's path points, and which category a new stage takes.

export const CATEGORIES = ["QUALIFY", "DEVELOP", "PROPOSE", "CLOSE", "IDENTIFY", "RESEARCH", "RESOLVE", "APPROVAL"];
export const FIELD_TYPES = ["TEXT", "NUMBER", "MONEY", "DATE", "BOOLEAN", "CHOICE", "USER", "LOOKUP"];
export const OPERATORS = [
  ["eq", "equals"],
  ["ne", "does not equal"],
  ["gt", "is greater than"],
  ["gte", "is at least"],
  ["lt", "is less than"],
  ["lte", "is at most"],
  ["in", "is one of"],
  ["contains", "contains"],
  ["is_set", "is filled in"],
];
export const CONDITION_KINDS = [
  ["compare", "A comparison"],
  ["all", "All of these hold"],
  ["any", "Any of these holds"],
  ["not", "Not"],
];
// As the server checks them: lowercase letters, digits, - or _, starting with a letter.
export const KEY_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
export const KEY_PATTERN_HTML = "[a-z][a-z0-9_\\-]{0,63}";
// The canonical order of a stage's parts in the file form.
export const STAGE_KEYS = ["key", "name", "entity", "category", "guidance", "due", "due_business_days", "probability", "steps", "next", "branches"];

// Who may run a process as people read it; an empty list lets everyone.
export function whoMayRun(roles) {
  return roles.length ? roles.join(", ") : "Everyone";
}

// A key as the server accepts it, made of the words of a name.
export function slug(text, separator) {
  const words = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().match(/[a-z0-9]+/g) ?? [];
  let key = words.join(separator);
  if (key && !/^[a-z]/.test(key)) key = `k${separator}${key}`;
  return key.slice(0, 64).replace(/[-_]+$/, "");
}

// In the file form: canonical key order, empty optional parts left out, unknown parts kept.
// A stage on the process's first entity does not name it.
export function fileForm(definition) {
  const { key, name, entity, description, amount_field: amount, close_date_field: closeDate, crossings, stages, ...rest } = definition;
  const out = { key, name, entity };
  if (description) out.description = description;
  if (amount) out.amount_field = amount;
  if (closeDate) out.close_date_field = closeDate;
  if (crossings?.length) {
    out.crossings = crossings.map(({ entity: crossed, lookup, map, ...more }) => ({
      entity: crossed, lookup, ...(map?.length ? { map } : {}), ...more,
    }));
  }
  out.stages = stages.map((stage) => {
    const copy = {};
    for (const part of STAGE_KEYS) {
      const value = stage[part];
      if (value === undefined || value === null) continue;
      if ((part === "guidance" && value === "") || (part === "branches" && value.length === 0)) continue;
      if (part === "entity" && value === entity) continue;
      copy[part] = value;
    }
    for (const [part, value] of Object.entries(stage)) if (!STAGE_KEYS.includes(part)) copy[part] = value;
    return copy;
  });
  return { ...out, ...rest };
}

export function kindOf(condition) {
  if (condition && typeof condition === "object") {
    for (const kind of ["all", "any", "not"]) if (kind in condition) return kind;
  }
  return "compare";
}

export function firstComparison(condition) {
  const kind = kindOf(condition);
  if (kind === "compare") return condition;
  if (kind === "not") return firstComparison(condition.not);
  const items = Array.isArray(condition[kind]) ? condition[kind] : [];
  for (const item of items) {
    const found = firstComparison(item);
    if (found) return found;
  }
  return null;
}

export function convert(condition, kind) {
  const from = kindOf(condition);
  if (kind === "compare") return firstComparison(condition) ?? { field: "", op: "eq" };
  if (kind === "not") return { not: condition };
  if (from === "all" || from === "any") return { [kind]: condition[from] };
  return { [kind]: [condition] };
}

// Where a problem is, as people read it: "Stage 2, step 1, field: ". Crossings count on
// from the first entity, as the form shows them: crossings[0] is "Entity 2".
export function where(path) {
  if (!path) return "";
  const words = { name: "name", key: "key", category: "category", guidance: "guidance", steps: "steps", field: "field",
    required: "required", next: "default next stage", branches: "branches", to: "target stage", when: "condition",
    description: "description", entity: "entity", stages: "stages", not: "not", due: "due",
    due_business_days: "business days", probability: "probability", amount_field: "amount field",
    close_date_field: "close date field", crossings: "entities", lookup: "lookup", map: "values copied", from: "copied from" };
  let before = null;
  const parts = [...path.matchAll(/([a-z_]+)(?:\[(\d+)\])?/g)].flatMap(([, name, index]) => {
    const after = before;
    before = name;
    if (name === "crossings" && index !== undefined) return [`entity ${Number(index) + 2}`];
    if (name === "entity" && after === "crossings") return [];
    if (name === "entity" && after === "stages") return ["works on"];
    const single = { stages: "stage", steps: "step", branches: "branch", all: "item", any: "item", map: "value" }[name];
    if (index !== undefined && single) return [`${single} ${Number(index) + 1}`];
    return [words[name] ?? name];
  });
  const text = parts.join(", ");
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}: `;
}

// The stage (and branch, if any) a problem's path concerns, as indexes; null for the rest.
export function placeOf(path) {
  const found = /^stages\[(\d+)\](?:\.branches\[(\d+)\])?/.exec(path ?? "");
  if (!found) return null;
  return { stage: Number(found[1]), branch: found[2] === undefined ? null : Number(found[2]) };
}

const SYMBOLS = { eq: "=", ne: "≠", gt: ">", gte: "≥", lt: "<", lte: "≤", in: "in", contains: "contains" };

// A condition in short words for the drawing: "Revenue ≥ 100000 or Size in Strategic".
export function conditionWords(condition, label = (key) => key) {
  const kind = kindOf(condition);
  if (kind === "not") return `not (${conditionWords(condition.not, label)})`;
  if (kind !== "compare") {
    const items = Array.isArray(condition[kind]) ? condition[kind] : [];
    if (items.length === 0) return kind === "all" ? "always" : "never";
    const grouped = items.map((item) => {
      const text = conditionWords(item, label);
      return items.length > 1 && ["all", "any"].includes(kindOf(item)) ? `(${text})` : text;
    });
    return grouped.join(kind === "all" ? " and " : " or ");
  }
  const field = condition?.field ? label(condition.field) : "?";
  if (condition?.op === "is_set") return condition.value === false ? `${field} not set` : `${field} set`;
  const value = condition?.value;
  const shown = value === undefined || value === null || value === "" ? "…" : Array.isArray(value) ? value.join(", ") : String(value);
  return `${field} ${SYMBOLS[condition?.op] ?? condition?.op ?? "?"} ${shown}`;
}

// The stage categories an entity's processes usually go through, in order: those every
// template of the entity passes, in the order of the first of them (Qualify, Develop,
// Propose, Close for an opportunity; Identify, Research, Resolve for a case). A category
// only some templates use, such as Approval, is left out: it is a detour, not a step of the
// usual way. An entity without templates takes the sales order.
export function usualOrder(entity, templates = []) {
  const sequences = templates
    .filter((template) => template.entity === entity && Array.isArray(template.definition?.stages))
    .map((template) => template.definition.stages.map((stage) => stage?.category).filter((c) => CATEGORIES.includes(c)));
  if (sequences.length === 0) return ["QUALIFY", "DEVELOP", "PROPOSE", "CLOSE"];
  const order = [...new Set(sequences[0])].filter((category) => sequences.every((sequence) => sequence.includes(category)));
  return order.length ? order : [...new Set(sequences[0])];
}

// The category of a stage added after `stages`. New stages go last, and people add them in
// flow order, so the new one takes the category after that of the last stage on the usual
// way (after Develop comes Propose); the first stage starts the way (Qualify), and a stage
// past its end stays at its last category (Close). Copying the stage before's category, or
// always Qualify, would make the designer fix nearly every new stage by hand. A name that
// is a category's ("Approval") takes that category.
export function newStageCategory(name, stages, order) {
  const named = name.trim().toUpperCase();
  if (CATEGORIES.includes(named)) return named;
  const last = stages.findLast((stage) => order.includes(stage.category));
  if (!last) return order[0];
  return order[Math.min(order.indexOf(last.category) + 1, order.length - 1)];
}
