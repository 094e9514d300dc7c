// The designer's building blocks: labelled controls that carry the path server problems
// point at, and the placing of those problems next to what they concern.
import { el } from "./dom.js";
import { KEY_PATTERN_HTML, where } from "./designer-model.js";

let counter = 0;
export const nextId = (name) => `designer-${name}-${++counter}`;

// A labelled control, wrapped in the element that carries its path for problems.
// A quiet label is there for screen readers only.
export function control(label, input, path, hint, { quiet = false } = {}) {
  input.id ||= nextId("input");
  const hintNode = hint && el("p", { class: "d-hint", id: nextId("hint") }, hint);
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return el("div", { class: "d-control", "data-path": path },
    el("label", { for: input.id, class: quiet ? "d-sr" : null }, label), input, hintNode);
}

export function checkbox(label, checked, path, onchange) {
  const input = el("input", { type: "checkbox", checked, onchange: () => onchange(input.checked) });
  return el("div", { class: "d-control d-check", "data-path": path }, el("label", {}, input, ` ${label}`));
}

export function button(text, onclick, attrs = {}) {
  return el("button", { type: "button", onclick, ...attrs }, text);
}

export function textarea(value, attrs) {
  const node = el("textarea", attrs);
  node.value = value ?? "";
  return node;
}

// Messages from the server next to what they concern (the element whose data-path is the
// problem's path, else its nearest ancestor), and all of them in a summary at the top; a
// form's summary (`looseOnly`) lists those that concern nothing in it.
export function placeProblems(root, problems, summary, { stale = false, looseOnly = false } = {}) {
  for (const node of root.querySelectorAll(".d-problem")) node.remove();
  for (const node of root.querySelectorAll(".d-has-problem")) node.classList.remove("d-has-problem");
  for (const node of root.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    const described = (node.getAttribute("aria-describedby") ?? "").split(" ").filter((id) => !id.startsWith("designer-problem"));
    if (described.length) node.setAttribute("aria-describedby", described.join(" "));
    else node.removeAttribute("aria-describedby");
  }
  const byPath = new Map([...root.querySelectorAll("[data-path]")].map((node) => [node.dataset.path, node]));
  const items = problems.map((problem) => {
    const target = stale ? null : closest(byPath, problem.path);
    if (!target) return el("li", { class: "d-loose" }, where(problem.path), problem.message);
    const message = el("p", { class: "d-problem", id: nextId("problem") }, problem.message);
    target.classList.add("d-has-problem");
    const slot = target.querySelector(":scope > .d-slot");
    if (slot) slot.append(message);
    else target.append(message);
    const input = target.matches(".d-control") && target.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), message.id].filter(Boolean).join(" "));
    }
    const focusable = input || target;
    return el("li", {}, where(problem.path), problem.message, " ",
      button("Show", () => {
        if (!input) focusable.setAttribute("tabindex", "-1");
        focusable.scrollIntoView({ block: "center" });
        focusable.focus();
      }, { class: "d-link", "aria-label": `Show: ${problem.message}` }));
  });
  if (looseOnly) {
    const loose = items.filter((item) => item.matches(".d-loose"));
    summary.hidden = loose.length === 0;
    summary.replaceChildren(el("ul", {}, loose));
    return;
  }
  // No problems is good news, said once by the status line, not by the summary of errors.
  if (problems.length === 0) {
    summary.replaceChildren();
    summary.hidden = true;
    return;
  }
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  const heading = stale
    ? `${count} at the last check; validate again to see them next to what they concern`
    : `${count} to fix before publishing`;
  summary.hidden = false;
  summary.replaceChildren(el("h2", {}, heading), el("ul", {}, items));
}

function closest(byPath, path) {
  for (let at = path; at; at = at.replace(/(\.[^.[]+|\[\d+\])$/, "")) {
    if (byPath.has(at)) return byPath.get(at);
    if (!/(\.[^.[]+|\[\d+\])$/.test(at)) break;
  }
  return null;
}

export function badge(status) {
  return el("span", { class: `d-badge d-${status.toLowerCase()}` }, status);
}

export function keyInput(hint) {
  return el("input", { required: true, pattern: KEY_PATTERN_HTML, maxlength: 64, autocomplete: "off", spellcheck: "false", placeholder: hint });
}
