// The drawing of a process beside its form: stages as boxes in their order, default next
// stages and branches as arrows labelled with their condition in short words, the server's
// problems marked in red. An SVG built node by node, with the designer's text as text nodes.
import { el, titleCase } from "./dom.js";
import { nextId } from "./designer-controls.js";
import { conditionWords, placeOf } from "./designer-model.js";

const SVG = "http://www.w3.org/2000/svg";
const PAD = 8;
const BOX = 166; // width of a stage's box
const GAP = 30; // between two boxes, room for a straight arrow and its label
const LANE = 14; // between two routed arrows beside the boxes
const PORT = 13; // between two arrows leaving or entering a box's side
const LABEL = 180; // room for a label right of the lanes
const NAME_CHARS = 21;
const LABEL_CHARS = 31;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const cut = (text, chars) => (text.length > chars ? `${text.slice(0, chars - 1)}…` : text);

// Arrows that do not go straight down to the next box run in lanes right of the boxes; two
// arrows share a lane when the rows they span do not overlap, the shortest taking the
// innermost lanes so that fewer arrows cross.
function assignLanes(routed) {
  const lanes = [];
  const bySpan = [...routed].sort((a, b) => Math.abs(a.to - a.from) - Math.abs(b.to - b.from) || a.from - b.from);
  for (const edge of bySpan) {
    const lo = Math.min(edge.from, edge.to ?? edge.from);
    const hi = Math.max(edge.from, edge.to ?? edge.from);
    let lane = lanes.findIndex((spans) => spans.every(([a, b]) => hi < a || b < lo));
    if (lane < 0) lane = lanes.push([]) - 1;
    lanes[lane].push([lo, hi]);
    edge.lane = lane;
  }
  return lanes.length;
}

// The arrows of the stages: each branch in order, then the default next stage.
function edgesOf(stages, label) {
  const index = new Map();
  stages.forEach((stage, i) => {
    if (stage.key && !index.has(stage.key)) index.set(stage.key, i);
  });
  const edges = [];
  stages.forEach((stage, i) => {
    stage.branches.forEach((branch, j) => {
      edges.push({ from: i, to: index.get(branch?.to), branch: j, kind: "branch", text: conditionWords(branch?.when, (key) => label(key, i)) });
    });
    if (stage.next) edges.push({ from: i, to: index.get(stage.next), kind: "next", text: "default" });
  });
  for (const edge of edges) edge.straight = edge.kind === "next" && edge.to === edge.from + 1;
  return edges;
}

// The server's problems by stage: those of the stage itself, and those of each arrow.
function problemsOf(problems, stages) {
  const byStage = stages.map(() => []);
  const byEdge = new Map();
  for (const problem of problems) {
    const place = placeOf(problem.path);
    if (!place || place.stage >= stages.length) continue;
    byStage[place.stage].push(problem);
    const edge = place.branch !== null ? `${place.stage}:branch:${place.branch}`
      : problem.path.startsWith(`stages[${place.stage}].next`) ? `${place.stage}:next` : null;
    if (edge) byEdge.set(edge, [...(byEdge.get(edge) ?? []), problem]);
  }
  return { byStage, byEdge };
}

function describe(problems) {
  return problems.map((problem) => problem.message).join(" ");
}

/**
 * The SVG of `stages`; `open(index)` takes the user to a stage's editor, `label(fieldKey,
 * index)` names a field in the short words of a condition of the stage at `index`.
 */
export function drawProcess(stages, { problems = [], label = (key) => key, open = () => {} } = {}) {
  if (stages.length === 0) return el("p", { class: "d-empty" }, "Add a stage to see the flow drawn here.");
  const edges = edgesOf(stages, label);
  const routed = edges.filter((edge) => !edge.straight);
  const laneCount = assignLanes(routed.filter((edge) => edge.to !== undefined));
  const { byStage, byEdge } = problemsOf(problems, stages);

  // Each box's side has a port per routed arrow leaving or entering it.
  const ports = stages.map(() => []);
  for (const edge of routed) {
    ports[edge.from].push({ edge, out: true });
    if (edge.to !== undefined) ports[edge.to].push({ edge, out: false });
  }
  const heights = ports.map((list) => Math.max(46, (list.length + 1) * PORT));
  const tops = [];
  heights.reduce((y, height, i) => {
    tops[i] = y;
    return y + height + GAP;
  }, PAD);
  for (const [i, list] of ports.entries()) {
    list.forEach((port, k) => {
      const y = tops[i] + ((k + 1) * heights[i]) / (list.length + 1);
      if (port.out) port.edge.y1 = y;
      else port.edge.y2 = y;
    });
  }

  const right = PAD + BOX;
  const laneX = (lane) => right + 12 + lane * LANE;
  const labelX = laneX(laneCount) + 2;
  const width = labelX + LABEL + PAD;
  const height = tops.at(-1) + heights.at(-1) + PAD;
  const arrow = nextId("arrow");
  const flawArrow = nextId("arrow");
  const marker = (id, className) => svg("marker", { id, class: className, viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
    svg("path", { d: "M0,0 L8,4 L0,8 z" }));

  const drawing = svg("svg", { class: "d-flow", viewBox: `0 0 ${width} ${height}`, width, role: "group", "aria-label": "Flow of the stages" },
    svg("defs", {}, marker(arrow, "d-head"), marker(flawArrow, "d-head d-head-flaw")));

  for (const edge of edges) {
    const key = edge.kind === "branch" ? `${edge.from}:branch:${edge.branch}` : `${edge.from}:next`;
    const flaws = byEdge.get(key) ?? [];
    const target = edge.to === undefined ? "no such stage" : stageName(stages[edge.to], edge.to);
    const what = edge.kind === "branch"
      ? `Branch ${edge.branch + 1} of ${stageName(stages[edge.from], edge.from)}: when ${edge.text}, to ${target}`
      : `Default next of ${stageName(stages[edge.from], edge.from)}: ${target}`;
    const descId = flaws.length ? nextId("flaw") : null;
    const group = svg("g", { class: `d-edge d-${edge.kind}${flaws.length ? " d-flaw" : ""}`, role: "img", "aria-label": what, "aria-describedby": descId },
      svg("title", {}, what), descId ? svg("desc", { id: descId }, describe(flaws)) : null);
    const end = `url(#${flaws.length ? flawArrow : arrow})`;
    if (edge.straight) {
      const x = PAD + BOX / 2;
      const y1 = tops[edge.from] + heights[edge.from];
      group.append(svg("line", { x1: x, y1, x2: x, y2: tops[edge.to] - 1, "marker-end": end }),
        svg("text", { x: x + 6, y: y1 + GAP / 2 + 4, class: "d-edge-label" }, edge.text));
    } else {
      const x = edge.to === undefined ? right + 12 : laneX(edge.lane);
      const d = edge.to === undefined ? `M${right},${edge.y1} H${x}` : `M${right},${edge.y1} H${x} V${edge.y2} H${right + 1}`;
      group.append(svg("path", { d, "marker-end": edge.to === undefined ? null : end }),
        svg("line", { x1: x, y1: edge.y1, x2: labelX - 2, y2: edge.y1, class: "d-leader" }),
        svg("text", { x: labelX, y: edge.y1 + 3.5, class: "d-edge-label" }, cut(edge.to === undefined ? `${edge.text} → ?` : edge.text, LABEL_CHARS)));
    }
    drawing.append(group);
  }

  stages.forEach((stage, i) => drawing.append(stageBox(stage, i, { top: tops[i], height: heights[i], flaws: byStage[i], open })));
  return drawing;
}

function stageName(stage, i) {
  return stage.name || stage.key || `Stage ${i + 1}`;
}

// A stage's box: a button to its editor, named by what it shows.
function stageBox(stage, i, { top, height, flaws, open }) {
  const name = cut(`${i + 1}. ${stageName(stage, i)}`, NAME_CHARS);
  const category = stage.category ? titleCase(String(stage.category)) : "No category";
  const descId = flaws.length ? nextId("flaw") : null;
  const box = svg("g", {
    class: `d-node d-cat-${String(stage.category ?? "none").toLowerCase()}${flaws.length ? " d-flaw" : ""}`,
    role: "button", tabindex: 0, "data-stage": i, "aria-describedby": descId,
  },
  descId ? svg("desc", { id: descId }, `${flaws.length === 1 ? "1 problem" : `${flaws.length} problems`}: ${describe(flaws)}`) : null,
  svg("rect", { class: "d-ring", x: PAD - 3, y: top - 3, width: BOX + 6, height: height + 6, rx: 9 }),
  svg("rect", { class: "d-box", x: PAD, y: top, width: BOX, height, rx: 6 }),
  svg("rect", { class: "d-band", x: PAD, y: top, width: 6, height, rx: 3 }),
  // One text, two lines: the box is named by exactly what it shows, "1. Qualify Qualify".
  svg("text", {},
    svg("tspan", { x: PAD + 14, y: top + 19, class: "d-node-name" }, `${name} `),
    svg("tspan", { x: PAD + 14, y: top + 36, class: "d-node-category" }, category)),
  flaws.length ? svg("text", { x: PAD + BOX - 8, y: top + 18, class: "d-node-flaw", "text-anchor": "end", "aria-hidden": "true" }, "⚠") : null);
  box.addEventListener("click", () => open(i));
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    open(i);
  });
  return box;
}
