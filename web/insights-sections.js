// The insights page's sections, each drawn from the figures of one answer: a heading, what
// the figure means, its chart and the table of its numbers. `ctx` carries the process, the
// dates in words and the names of files.
import { barChart, columnChart, count, percent, span, spanUnit } from "./chart.js";
import { el, money } from "./dom.js";
import { figureTable } from "./insights-tables.js";

const BELOW = "The figures are in the table below.";

function section(name, title, hint, ...parts) {
  const id = `insights-${name}`;
  return el("section", { class: "insights-section", "aria-labelledby": id, "data-section": name },
    el("h2", { id }, title), el("p", { class: "hint" }, hint), ...parts);
}

function table(ctx, name, caption, head, rows, empty) {
  return figureTable({ name, caption, head, rows, empty, filename: `${ctx.filePrefix}-${name}.csv` });
}

// Totals as term and figure pairs, each pair kept together when they wrap.
function totals(pairs) {
  return el("dl", { class: "insights-totals" }, pairs.map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, value))));
}

const sum = (items, key) => items.reduce((total, item) => total + item[key], 0);

// A list of "name figure" in words, for a chart's summary.
const listed = (items) => items.join(", ");

export function funnelSection(ctx, funnel) {
  const started = funnel[0]?.reached ?? 0;
  const chart = barChart({
    width: ctx.width,
    label: `Funnel of records started ${ctx.dates}: ${listed(funnel.map((s) => `${s.name} ${s.reached} reached`))}. ${BELOW}`,
    series: [{ name: "Reached", tone: "reached" }],
    rows: funnel.map((s) => ({ label: s.name, values: [s.reached], texts: [`${count(s.reached)} · ${percent(s.conversion)} on`] })),
    whole: true,
  });
  return section("funnel", "Funnel",
    `Of the records started ${ctx.dates} (${count(started)} at the first stage): how many reached each stage, ` +
    "how many of those moved on (conversion: advanced or finished, of those that reached it) and how many were abandoned there (drop-off).",
    chart,
    table(ctx, "funnel", `Funnel: records started ${ctx.dates}, by stage`,
      ["Stage", "Reached", "Advanced", "Finished", "Abandoned", "Still there", "Conversion", "Drop-off"],
      funnel.map((s) => [s.name, count(s.reached), count(s.advanced), count(s.finished), count(s.abandoned),
        count(s.active), percent(s.conversion), percent(s.dropOff)])));
}

export function outcomesSection(ctx, outcomes) {
  const rows = [
    ...outcomes.outcomes.map((o) => ({ label: o.label, count: o.count, rate: percent(o.rate) })),
    { label: "Abandoned", count: outcomes.abandoned, rate: "—" },
  ];
  const chart = barChart({
    width: ctx.width,
    label: `Outcomes of the ${outcomes.ended} records that ended ${ctx.dates}: ${listed(rows.map((r) => `${r.label} ${r.count}`))}. ${BELOW}`,
    series: [{ name: "Records", tone: "count" }],
    rows: rows.map((r) => ({ label: r.label, values: [r.count], texts: [r.rate === "—" ? count(r.count) : `${count(r.count)} · ${r.rate}`] })),
    whole: true,
  });
  const label = (key) => ctx.process.outcomes.find((o) => o.key === key)?.label ?? key ?? "—";
  return section("outcomes", "Outcomes",
    `How the records that ended ${ctx.dates} ended: finished with each outcome (its rate is of those finished) or abandoned.`,
    totals([["Ended", count(outcomes.ended)], ["Finished", count(outcomes.finished)], ["Abandoned", count(outcomes.abandoned)]]),
    chart,
    table(ctx, "outcomes", `Outcomes of records that ended ${ctx.dates}`, ["Outcome", "Records", "Rate of finished"],
      rows.map((r) => [r.label, count(r.count), r.rate])),
    table(ctx, "reasons", `Reasons given ${ctx.dates}`, ["Reason", "Outcome", "Records"],
      outcomes.reasons.map((r) => [r.reason, label(r.outcome), count(r.count)]), "No reasons given in these dates."));
}

export function timeSection(ctx, stages, cycle) {
  const longest = Math.max(0, ...stages.map((s) => s.stays.p90Seconds ?? 0));
  const chart = barChart({
    width: ctx.width,
    label: `Time in stage, stays that ended ${ctx.dates}: ${listed(stages.map((s) => `${s.name} median ${span(s.stays.p50Seconds)}, 90th percentile ${span(s.stays.p90Seconds)}`))}. ${BELOW}`,
    series: [{ name: "Median (p50)", tone: "p50" }, { name: "90th percentile (p90)", tone: "p90" }],
    rows: stages.map((s) => ({ label: s.name, values: [s.stays.p50Seconds, s.stays.p90Seconds],
      texts: [span(s.stays.p50Seconds), span(s.stays.p90Seconds)] })),
    format: span,
    unit: spanUnit(longest),
  });
  const d = (durations) => [count(durations.count), span(durations.p50Seconds), span(durations.p90Seconds), span(durations.meanSeconds)];
  return section("time", "Time in stage",
    `How long records stayed in each stage, for the stays that ended ${ctx.dates}: half stayed less than the median (p50), ` +
    "nine in ten less than the 90th percentile (p90). Per record adds up every stay of a record in the stage (after a move back).",
    totals([["Cycle time, start to finish", cycle.count
      ? `median ${span(cycle.p50Seconds)}, p90 ${span(cycle.p90Seconds)}, mean ${span(cycle.meanSeconds)} (${count(cycle.count)} finished)`
      : "no record finished in these dates"]]),
    chart,
    table(ctx, "time-in-stage", `Time in stage: stays that ended ${ctx.dates}`,
      ["Stage", "Stays", "Stay p50", "Stay p90", "Stay mean", "Records", "Per record p50", "Per record p90", "Per record mean"],
      stages.map((s) => [s.name, ...d(s.stays), ...d(s.perInstance)])));
}

// Money on an axis: short ("$12K").
function moneyAxis(currency) {
  const format = new Intl.NumberFormat(undefined, currency
    ? { style: "currency", currency, notation: "compact", maximumFractionDigits: 1 }
    : { notation: "compact", maximumFractionDigits: 1 });
  return (value) => format.format(value);
}

function monthName(month) {
  if (!month) return "No close date";
  // Months far ahead are added up by the server as one.
  if (month === "later") return "Later";
  return new Date(`${month}-01T00:00:00Z`).toLocaleDateString(undefined, { month: "short", year: "numeric", timeZone: "UTC" });
}

export function pipelineSection(ctx, pipeline) {
  const hint = "The records running this process now (the dates do not apply), with the amount each stands for " +
    "and that amount weighted by its stage's probability of closing.";
  if (!pipeline.amountField) {
    return section("pipeline", "Weighted pipeline", hint,
      el("p", { class: "insights-note" }, `${count(pipeline.count)} records are running now. This process has no amount field: `,
        ctx.designer
          ? el("a", { href: `#/designer/${ctx.process.id}` }, "set one in the designer")
          : "a designer can set one",
        ", with each stage's probability, to see what the pipeline is worth."));
  }
  const cash = (value) => money(value, pipeline.currency);
  const series = [{ name: "Amount", tone: "amount" }, { name: "Weighted", tone: "weighted" }];
  const figures = (item) => ({ values: [Number(item.amount), Number(item.weighted)], texts: [cash(item.amount), cash(item.weighted)] });
  const field = ctx.fieldLabel(pipeline.amountField);
  const months = pipeline.byMonth.map((m) => ({ ...m, label: monthName(m.month) }));
  return section("pipeline", "Weighted pipeline", `${hint} Amount: ${field}` +
    (pipeline.closeDateField ? `; close month: ${ctx.fieldLabel(pipeline.closeDateField)}.` : "."),
    totals([["Open records", count(pipeline.count)], ["Amount", cash(pipeline.amount)], ["Weighted", cash(pipeline.weighted)]]),
    el("h3", {}, "By stage"),
    barChart({
      width: ctx.width,
      label: `Pipeline by stage: ${listed(pipeline.byStage.map((s) => `${s.name} ${cash(s.amount)}, weighted ${cash(s.weighted)}`))}. ${BELOW}`,
      series, rows: pipeline.byStage.map((s) => ({ label: s.name, ...figures(s) })), format: moneyAxis(pipeline.currency),
    }),
    table(ctx, "pipeline-stages", "Pipeline by stage, now", ["Stage", "Probability", "Records", "Amount", "Weighted"],
      pipeline.byStage.map((s) => [s.name, s.probability === null ? "—" : `${s.probability}%`, count(s.count), cash(s.amount), cash(s.weighted)])),
    el("h3", {}, "By close month"),
    months.length
      ? columnChart({
        width: ctx.width,
        label: `Pipeline by close month: ${listed(months.map((m) => `${m.label} ${cash(m.amount)}, weighted ${cash(m.weighted)}`))}. ${BELOW}`,
        series, columns: months.map((m) => ({ label: m.label, ...figures(m) })), format: moneyAxis(pipeline.currency),
      })
      : null,
    table(ctx, "pipeline-months", "Pipeline by close month, now", ["Close month", "Records", "Amount", "Weighted"],
      months.map((m) => [m.label, count(m.count), cash(m.amount), cash(m.weighted)]), "No record is running now."));
}

function weekName(start) {
  return new Date(`${start}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

export function throughputSection(ctx, weeks) {
  const series = [{ name: "Started", tone: "started" }, { name: "Finished", tone: "finished" }, { name: "Abandoned", tone: "abandoned" }];
  const keys = ["started", "finished", "abandoned"];
  const chart = columnChart({
    width: ctx.width,
    label: `Throughput per week ${ctx.dates}, ${weeks.length} weeks: ${sum(weeks, "started")} started, ` +
      `${sum(weeks, "finished")} finished, ${sum(weeks, "abandoned")} abandoned in all. ${BELOW}`,
    series,
    columns: weeks.map((w) => ({ label: weekName(w.start), values: keys.map((k) => w[k]), texts: keys.map((k) => count(w[k])) })),
    whole: true,
  });
  return section("throughput", "Throughput per week",
    "How many records started the process, moved to a next stage, finished and were abandoned in each week (weeks start on Monday, UTC).",
    chart,
    table(ctx, "throughput", `Throughput per week ${ctx.dates}`, ["Week of", "Started", "Advanced", "Finished", "Abandoned"],
      weeks.map((w) => [weekName(w.start), count(w.started), count(w.advanced), count(w.finished), count(w.abandoned)])));
}

export function stuckSection(ctx, stuck, days) {
  const oldest = [...stuck].sort((a, b) => new Date(a.since) - new Date(b.since));
  const due = (item) => {
    if (item.overdue) return el("strong", { class: "overdue-tag" }, "Overdue");
    if (!item.dueAt) return "No due";
    return `Due ${new Date(item.dueAt).toLocaleDateString(undefined, { dateStyle: "medium" })}`;
  };
  const more = `more than ${days} ${days === 1 ? "day" : "days"}`;
  return section("stuck", "Stuck records",
    `Records in the same stage for ${more} now, or past the stage's due, the longest first (the dates do not apply).`,
    table(ctx, "stuck", `Records in their stage for ${more} or past its due`, ["Record", "Owner", "Stage", "In stage", "Due"],
      oldest.map((item) => [el("a", { href: `#/records/${item.recordId}`, "data-key": `record-${item.recordId}` }, item.recordName), item.owner, item.stageName,
        span(item.days * 86_400), due(item)]),
      `No record has been in its stage for ${more}, nor is past its due.`));
}
