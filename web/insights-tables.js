// The tables that carry each chart's figures, for keyboard and screen-reader users and for
// taking away: each one a real table with its caption, and a button that downloads it as CSV.
import { el } from "./dom.js";

// `head`: the column names; `rows`: lists of cells, each text or a node (a link); the first
// cell of a row heads it. `name` makes the file's name and keys the button (focus returns
// to it after a redraw).
export function figureTable({ name, caption, head, rows, filename, empty = "Nothing in these dates." }) {
  const table = el("table", { class: "figures", "data-table": name },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, head.map((text) => el("th", { scope: "col" }, text)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((cell, i) => (i === 0
      ? el("th", { scope: "row" }, cell)
      : el("td", {}, cell)))))));
  const button = el("button", { type: "button", class: "csv", "data-key": `csv-${name}`, "aria-label": `Download CSV: ${caption}` },
    "Download CSV");
  button.addEventListener("click", () => download(filename, tableCsv(table)));
  return el("div", { class: "figure-table" },
    // A table wider than the screen scrolls: the keyboard reaches it, and it is named.
    el("div", { class: "table-scroll", tabindex: 0, role: "region", "aria-label": caption, "data-key": `table-${name}` }, table),
    rows.length ? null : el("p", { class: "status" }, empty),
    el("div", { class: "figure-actions" }, button));
}

// A number as text stays as it is; any other text a spreadsheet would run as a formula
// (starting with = + - @, a tab or a carriage return) is made plain text by a leading '.
export function csvField(value) {
  let text = String(value ?? "");
  if (/^[=+\-@\t\r]/.test(text) && !/^[+-]?\d+(\.\d+)?%?$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

// The table as shown, a line per row (the head first), comma-separated, CRLF line ends.
export function tableCsv(table) {
  const lines = [...table.querySelectorAll("thead tr, tbody tr")]
    .map((row) => [...row.cells].map((cell) => csvField(cell.textContent.trim())).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

// The byte-order mark tells spreadsheets the file is UTF-8 (names, currency signs).
export function download(filename, text) {
  const url = URL.createObjectURL(new Blob(["\ufeff", text], { type: "text/csv;charset=utf-8" }));
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
