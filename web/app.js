// Lists the processes with their stages as a process bar; server data goes in as text.
import { graphql } from "./api.js";

const PROCESSES = `{ processes { id name description entity { name } stages { key name category } } }`;

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function renderProcess(process) {
  const item = el("li", { class: "process", "data-process": process.id });
  item.append(el("h3", {}, process.name));
  item.append(el("p", { class: "entity" }, process.entity.name));
  item.append(el("p", { class: "description" }, process.description));
  const bar = el("ol", { class: "bar", "aria-label": `${process.name} stages` });
  for (const stage of process.stages) {
    bar.append(el("li", { class: "stage", "data-category": stage.category }, stage.name));
  }
  item.append(bar);
  return item;
}

async function main() {
  const status = document.getElementById("status");
  const list = document.getElementById("processes");
  try {
    const data = await graphql(PROCESSES);
    list.replaceChildren(...data.processes.map(renderProcess));
    status.textContent = `${data.processes.length} processes`;
  } catch (error) {
    status.textContent = `Could not load processes: ${error.message}`;
  }
}

main();
