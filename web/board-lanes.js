// The board's lanes: one per stage, each its own page of records (the records list's filter on
// the instance the bar shows), so every count is the lane's exact totalCount and a lane of
// any size opens with its first cards and loads the rest as it is scrolled or asked for.
import { graphql } from "./api.js";
import { CARD_FIELDS } from "./board-card.js";
import { el } from "./dom.js";

export const FIRST = 10;
const MOST = 100; // the server's largest page

const LANE = `totalCount pageInfo { hasNextPage endCursor } edges { node { ${CARD_FIELDS} } }`;

// One request for the board's first screen: the process, each lane's first cards and
// count, and how many records show the process at all (some may sit on a stage an older
// version had and this one lacks), and the `pins` records moved on this page.
export function boardQuery(lanes, pins) {
  const variables = [
    ...lanes.map((_, i) => `$s${i}: String!, $e${i}: String!, $f${i}: Int!`),
    ...Array.from({ length: pins }, (_, i) => `$p${i}: ID!`),
  ].map((v) => `, ${v}`).join("");
  const fields = [
    ...lanes.map((_, i) => `l${i}: records(processId: $process, stage: $s${i}, entity: $e${i}, status: ACTIVE, first: $f${i}) { ${LANE} }`),
    ...Array.from({ length: pins }, (_, i) => `p${i}: record(id: $p${i}) { ${CARD_FIELDS} }`),
  ];
  return `query Board($process: ID!${variables}) {
  lastEventSeq
  all: records(processId: $process, status: ACTIVE, first: 1) { totalCount }
  ${fields.join("\n  ")}
}`;
}

export function boardVariables(processId, lanes) {
  const variables = { process: processId };
  lanes.forEach((lane, i) => {
    variables[`s${i}`] = lane.key;
    variables[`e${i}`] = lane.entity;
    variables[`f${i}`] = Math.min(MOST, Math.max(FIRST, lane.shown()));
  });
  return variables;
}

// A lane shows the records of its stage's entity: an instance of a process across entities
// is one card, on the record its active stage works on.
const MORE = `query BoardLane($process: ID!, $stage: String!, $entity: String!, $after: String) {
  records(processId: $process, stage: $stage, entity: $entity, status: ACTIVE, first: ${FIRST}, after: $after) { ${LANE} }
}`;

// `draw(record)` makes a card; `drop(instanceId, stageKey)` is a card dropped on the lane.
export class Lane {
  constructor({ processId, key, entity, name, category, draw, drop, report, observer }) {
    this.processId = processId;
    this.entity = entity;
    this.report = report;
    this.key = key;
    this.name = name;
    this.draw = draw;
    this.records = [];
    this.after = null;
    this.loading = null;
    this.count = el("span", { class: "count" });
    this.list = el("ul", { class: "cards", "aria-label": name });
    this.more = el("button", { type: "button", class: "more", hidden: true, "aria-label": `Show more: ${name}` }, "Show more");
    this.more.addEventListener("click", () => {
      this.pressed = true;
      this.loadMore();
    });
    this.end = el("div", { class: "lane-end", "aria-hidden": "true" });
    this.end.lane = this;
    this.node = el("section", { class: "column", "data-stage": key, "aria-label": name, tabindex: "-1" },
      el("h2", {}, name, " ", this.count),
      category ? el("p", { class: "category" }, category) : "",
      this.list, this.more, this.end);
    this.node.addEventListener("dragover", (event) => event.preventDefault());
    this.node.addEventListener("drop", (event) => {
      event.preventDefault();
      drop(event.dataTransfer.getData("text/plain"), key);
    });
    observer.observe(this.end);
  }

  shown() {
    return this.records.length;
  }

  // A page read afresh (from the first card): what the lane shows now.
  fill(page) {
    this.records = page.edges.map((e) => e.node);
    this.after = page.pageInfo.endCursor;
    this.paint(page);
    this.list.replaceChildren(...this.records.map(this.draw));
  }

  paint(page) {
    this.total = page.totalCount;
    this.count.textContent = String(page.totalCount);
    this.count.setAttribute("aria-label", `${page.totalCount} ${page.totalCount === 1 ? "record" : "records"}`);
    this.hasMore = page.pageInfo.hasNextPage;
    this.more.hidden = !this.hasMore;
  }

  // The next page after the last card. Focus moves on to the first new card when "Show more"
  // was pressed, or when it had focus (Tab scrolls the lane's end into view) and is gone.
  loadMore() {
    if (!this.hasMore || this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const { records: page } = await graphql(MORE, { process: this.processId, stage: this.key, entity: this.entity, after: this.after });
        const known = new Set(this.records.map((r) => r.id));
        const fresh = page.edges.map((e) => e.node).filter((r) => !known.has(r.id));
        this.records.push(...fresh);
        this.after = page.pageInfo.endCursor;
        const held = document.activeElement === this.more;
        this.paint(page);
        const cards = fresh.map(this.draw);
        this.list.append(...cards);
        if (held && (this.pressed || this.more.hidden)) {
          (cards[0]?.querySelector("a") ?? (this.more.hidden ? this.node : this.more)).focus();
        }
      } catch (error) {
        this.report(`Could not load more of ${this.name}: ${error.message}`);
      } finally {
        this.loading = null;
        this.pressed = false;
      }
    })();
    return this.loading;
  }

  // A card placed at the top: a record just moved here, past the cards loaded so far.
  pin(record) {
    if (this.records.some((r) => r.id === record.id)) return;
    this.records.unshift(record);
    this.list.prepend(this.draw(record));
  }
}

// Loads more of a lane whose end scrolls into view.
export function laneObserver() {
  const observer = new IntersectionObserver((entries) => {
    for (const { isIntersecting, target } of entries) {
      if (!isIntersecting || !target.lane.hasMore) continue;
      // Observed afresh once the page is in: an end still in view asks for the next one.
      target.lane.loadMore()?.then(() => {
        observer.unobserve(target);
        observer.observe(target);
      });
    }
  });
  return observer;
}
