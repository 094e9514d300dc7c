// Building DOM nodes from server data: every string goes in as text, never as markup.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "value") node.value = value;
    else if (name === "checked") node.checked = Boolean(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Reloads of a view: their answers may come back out of order, and drawing an unchanged
// answer again would swap the controls from under the user's pointer. `ask()` before
// each read returns a check that the answer is still the newest; `changed(answer)` says
// whether it differs from the one drawn last (keys in `ignore` do not count).
export function reloads(ignore = []) {
  let asked = 0;
  let drawn = null;
  return {
    ask() {
      const ticket = ++asked;
      return () => ticket === asked;
    },
    changed(answer) {
      const state = JSON.stringify(answer, (key, value) => (ignore.includes(key) ? undefined : value));
      if (state === drawn) return false;
      drawn = state;
      return true;
    },
  };
}

// How long ago, in words that move with the clock: "9 minutes", "3 hours", "2 days".
export function elapsed(since, now = new Date()) {
  const seconds = Math.max(0, (now - new Date(since)) / 1000);
  const count = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (seconds < 60) return "less than a minute";
  if (seconds < 3600) return count(Math.floor(seconds / 60), "minute");
  if (seconds < 86_400) return count(Math.floor(seconds / 3600), "hour");
  return count(Math.floor(seconds / 86_400), "day");
}

// A stay's deadline in words that move with the clock: "Due in 3 days", "Overdue by 2 days".
// `overdue` is the server's word (it has told the stay overdue); the clock may run behind it.
export function dueIn(dueAt, { overdue = false, now = new Date() } = {}) {
  const late = overdue || now >= new Date(dueAt);
  return late
    ? { late, text: `Overdue by ${elapsed(dueAt, now)}` }
    : { late, text: `Due in ${elapsed(now, new Date(dueAt))}` };
}

// An amount as people read it, from the exact decimal text the server keeps: Intl formats a
// decimal string without passing it through a float, so no cent is lost at any size.
export function money(value, currency = null) {
  const options = currency
    ? { style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 2 }
    : { minimumFractionDigits: 2, maximumFractionDigits: 2 };
  const text = String(value);
  return /^-?\d+(\.\d+)?$/.test(text) ? new Intl.NumberFormat(undefined, options).format(text) : text;
}

export function duration(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

export function when(at) {
  return new Date(at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function titleCase(word) {
  return word.charAt(0) + word.slice(1).toLowerCase();
}

// A field value as people read it; money keeps its two decimals.
export function display(field, value) {
  if (value === undefined || value === null || value === "") return "—";
  switch (field.type) {
    case "BOOLEAN":
      return value ? "Yes" : "No";
    case "MONEY":
      return money(value, field.currency);
    case "LOOKUP":
      return `Record ${value}`;
    default:
      return String(value);
  }
}

// A link to the record a lookup value names: by the record's name when `names` (record id →
// name) knows it, else by its id.
export function recordLink(id, names = new Map(), attrs = {}) {
  return el("a", { href: `#/records/${encodeURIComponent(id)}`, ...attrs }, names.get(String(id)) || `Record ${id}`);
}

// The input for a step, fitting the field's type and carrying its bounds and length limit as
// the server declares them; `read()` gives the value to send.
export function fieldInput(field, value, id) {
  const common = { id, name: field.key, "data-field": field.key };
  let input;
  switch (field.type) {
    case "BOOLEAN":
      input = el("select", common,
        el("option", { value: "" }, "—"),
        el("option", { value: "true" }, "Yes"),
        el("option", { value: "false" }, "No"));
      input.value = value === true ? "true" : value === false ? "false" : "";
      return { input, read: () => (input.value === "" ? null : input.value === "true") };
    case "CHOICE":
      input = el("select", common, el("option", { value: "" }, "—"),
        field.choices.map((choice) => el("option", { value: choice }, choice)));
      input.value = value ?? "";
      return { input, read: () => input.value || null };
    case "NUMBER":
      input = el("input", { ...common, type: "number", step: "any", min: field.minimum, max: field.maximum, value: value ?? "" });
      return { input, read: () => (input.value === "" ? null : Number(input.value)) };
    case "MONEY":
      input = el("input", { ...common, type: "number", step: "0.01", min: field.minimum, max: field.maximum, value: value ?? "" });
      return { input, read: () => (input.value === "" ? null : input.value) };
    case "DATE":
      input = el("input", { ...common, type: "date", value: value ?? "" });
      return { input, read: () => input.value || null };
    case "LOOKUP":
      // The id of a record of the field's target entity; the server checks it names one.
      input = el("input", { ...common, type: "text", inputmode: "numeric", pattern: "[0-9]*", autocomplete: "off", value: value ?? "" });
      return { input, read: () => (input.value.trim() === "" ? null : input.value.trim()) };
    default:
      input = el("input", { ...common, type: "text", maxlength: field.maxLength, value: value ?? "" });
      return { input, read: () => (input.value.trim() === "" ? null : input.value) };
  }
}
