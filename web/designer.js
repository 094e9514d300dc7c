// The process designer: the list of processes, drafts and ready-to-use templates
// (designer-list.js), and the editor of one process (designer-editor.js). The editor works on
// the definition in its file form; the server validates it and answers with problems whose
// paths point at the parts they concern.
import { el } from "./dom.js";
import { Editor } from "./designer-editor.js";
import { showList } from "./designer-list.js";

export async function show(container, [processId] = [], { notify = () => {} } = {}) {
  const root = el("div", { class: "designer" });
  container.append(root);
  const view = { alive: true };
  const editor = processId === undefined ? null : new Editor(root, processId, notify, view);
  try {
    if (editor) await editor.load();
    else await showList(root, view);
  } catch (error) {
    const text = error.code === "FORBIDDEN" ? "Designing processes takes a designer or an admin account." : error.message;
    if (view.alive) root.replaceChildren(el("h1", {}, "Process designer"), el("p", { class: "d-alert", role: "alert" }, text));
  }
  return () => {
    view.alive = false;
    editor?.leave();
  };
}
