// The web app's charts: horizontal bars and vertical columns drawn as SVG, one or more
// series side by side. Every label goes in as text; colours come from the stylesheet
// (each series names a tone, `.chart-tone-<tone>`). A chart is an image with a summary
// for screen readers; its figures belong in a table beside it, which the caller draws.

const SVG = "http://www.w3.org/2000/svg";
const FONT = 12;
// Text is drawn at about its size on the page: a phone gets a narrower drawing, not a
// smaller one.
const WIDE = 640;
const NARROW = 360;

export const chartWidth = (narrow) => (narrow ? NARROW : WIDE);

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

// ---- numbers as people read them ----

const percentFormat = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const countFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

// 0.756 → "75.6%"; null (nothing to divide by) → "—".
export function percent(ratio) {
  return ratio === null || ratio === undefined ? "—" : percentFormat.format(ratio);
}

export function count(value) {
  return value === null || value === undefined ? "—" : countFormat.format(value);
}

// A length of time, short: "45 s", "12 min", "5 h", "3.2 d"; null → "—".
export function span(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const one = (value) => countFormat.format(Math.round(value * 10) / 10);
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) return `${one(seconds / 3600)} h`;
  return `${one(seconds / 86_400)} d`;
}

// The unit a time axis counts in, so that its ticks fall on whole minutes, hours or days.
export function spanUnit(seconds) {
  if (seconds >= 2 * 86_400) return 86_400;
  if (seconds >= 2 * 3600) return 3600;
  if (seconds >= 120) return 60;
  return 1;
}

// Ticks from 0 past `max`, at a round step (1, 2, 2.5 or 5 times a power of ten) of `unit`.
export function ticks(max, { unit = 1, whole = false, most = 5 } = {}) {
  const top = max / unit;
  if (!(top > 0)) return [0, unit];
  let step = top / (most - 1);
  const power = 10 ** Math.floor(Math.log10(step));
  const norm = step / power;
  step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * power;
  if (whole) step = Math.max(1, Math.ceil(step));
  const steps = Math.max(1, Math.ceil(top / step - 1e-9));
  return Array.from({ length: steps + 1 }, (_, i) => i * step * unit);
}

// A label cut to fit `room` characters, its end marked.
function fit(text, room) {
  return text.length > room ? `${text.slice(0, room - 1)}…` : text;
}

function frame(label, width, height, kind) {
  return svg("svg", {
    class: `chart chart-${kind}`, role: "img", "aria-label": label,
    viewBox: `0 0 ${width} ${height}`, width, height, "font-size": FONT,
  });
}

// The series' names with their tones, across the top; none for a single series.
function legend(chart, series, x, y) {
  if (series.length < 2) return;
  let at = x;
  for (const s of series) {
    chart.append(svg("rect", { x: at, y: y - 10, width: 12, height: 12, rx: 2, class: `chart-tone-${s.tone}` }),
      svg("text", { x: at + 16, y, class: "chart-text" }, s.name));
    // About 7 units a character at this size: the next name starts clear of this one.
    at += 16 + s.name.length * 7 + 18;
  }
}

// `rows`: [{ label, values: [number | null per series], texts: [string per series] }];
// `series`: [{ name, tone }]; `format` labels the value axis; `unit`, `whole` shape its
// ticks. Each bar is followed by its text.
export function barChart({ label, rows, series, format = count, unit = 1, whole = false, width: size = WIDE }) {
  const narrow = size < WIDE;
  const labelWidth = narrow ? 96 : 150;
  const textRoom = narrow ? 100 : 130;
  const bar = 14;
  const rowHeight = series.length * (bar + 2) + 10;
  const top = series.length > 1 ? 28 : 8;
  const plotWidth = size - labelWidth - textRoom;
  const height = top + rows.length * rowHeight + 28;
  const chart = frame(label, size, height, "bars");
  legend(chart, series, narrow ? 4 : labelWidth, 14);

  const max = Math.max(0, ...rows.flatMap((row) => row.values.map((v) => v ?? 0)));
  const marks = ticks(max, { unit, whole });
  const scale = plotWidth / marks.at(-1);
  const bottom = top + rows.length * rowHeight;
  for (const mark of marks) {
    const x = labelWidth + mark * scale;
    chart.append(svg("line", { x1: x, x2: x, y1: top - 4, y2: bottom, class: "chart-grid" }));
    chart.append(svg("text", { x, y: bottom + 16, "text-anchor": "middle", class: "chart-axis" }, format(mark)));
  }
  chart.append(svg("line", { x1: labelWidth, x2: labelWidth, y1: top - 4, y2: bottom, class: "chart-base" }));

  rows.forEach((row, i) => {
    const y = top + i * rowHeight + 5;
    const middle = y + (series.length * (bar + 2)) / 2;
    chart.append(svg("text", { x: labelWidth - 8, y: middle + 4, "text-anchor": "end", class: "chart-text" }, fit(row.label, Math.floor((labelWidth - 10) / 7))));
    series.forEach((s, j) => {
      const value = row.values[j] ?? 0;
      const by = y + j * (bar + 2);
      const width = Math.max(value > 0 ? 1 : 0, value * scale);
      chart.append(svg("rect", { x: labelWidth, y: by, width, height: bar, class: `chart-tone-${s.tone}` }));
      chart.append(svg("text", { x: labelWidth + width + 4, y: by + bar - 3, class: "chart-value" }, row.texts[j]));
    });
  });
  return chart;
}

// `columns`: [{ label, values, texts }] left to right; `series` as for barChart. Labels
// under the columns are thinned out so that they never overlap.
export function columnChart({ label, columns, series, format = count, unit = 1, whole = false, width: size = WIDE }) {
  const left = size < WIDE ? 56 : 72;
  const right = 12;
  const top = series.length > 1 ? 30 : 12;
  const plotHeight = 190;
  const height = top + plotHeight + 34;
  const chart = frame(label, size, height, "columns");
  legend(chart, series, size < WIDE ? 4 : left, 14);

  const max = Math.max(0, ...columns.flatMap((column) => column.values.map((v) => v ?? 0)));
  const marks = ticks(max, { unit, whole });
  const scale = plotHeight / marks.at(-1);
  const bottom = top + plotHeight;
  const plotWidth = size - left - right;
  for (const mark of marks) {
    const y = bottom - mark * scale;
    chart.append(svg("line", { x1: left, x2: size - right, y1: y, y2: y, class: "chart-grid" }));
    chart.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "chart-axis" }, format(mark)));
  }
  chart.append(svg("line", { x1: left, x2: size - right, y1: bottom, y2: bottom, class: "chart-base" }));

  const slot = plotWidth / Math.max(1, columns.length);
  const gap = Math.min(12, slot * 0.2);
  const width = (slot - gap) / series.length;
  const longest = Math.max(1, ...columns.map((column) => column.label.length));
  const every = Math.max(1, Math.ceil((longest * 7 + 8) / slot));
  columns.forEach((column, i) => {
    const x = left + i * slot + gap / 2;
    series.forEach((s, j) => {
      const value = column.values[j] ?? 0;
      const h = Math.max(value > 0 ? 1 : 0, value * scale);
      const bar = svg("rect", { x: x + j * width, y: bottom - h, width: Math.max(1, width - 1), height: h, class: `chart-tone-${s.tone}` });
      bar.append(svg("title", {}, `${column.label}, ${s.name}: ${column.texts[j]}`));
      chart.append(bar);
    });
    if (i % every === 0) {
      chart.append(svg("text", { x: left + i * slot + slot / 2, y: bottom + 16, "text-anchor": "middle", class: "chart-axis" }, column.label));
    }
  });
  return chart;
}
