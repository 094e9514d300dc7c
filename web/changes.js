// What other people changed: the notices shown for events this page did not cause.

const mine = new Set();
const inFlight = new Set();

// Send a change through `track` so the event it causes is not announced back: the
// event may arrive over the websocket before the mutation's own answer does.
export async function track(sending) {
  inFlight.add(sending);
  try {
    const data = await sending;
    for (const result of Object.values(data)) {
      const seq = result?.event?.seq;
      if (seq) mine.add(seq);
    }
    return data;
  } finally {
    inFlight.delete(sending);
  }
}

// Calls `announce` with the event once no change of this page is on its way, unless
// this page caused it.
export async function ifByOthers(event, announce) {
  await Promise.allSettled([...inFlight]);
  if (!mine.has(event.seq)) announce();
}

const VERBS = {
  RECORD_CREATED: "created",
  RECORD_UPDATED: "changed",
  INSTANCE_STARTED: "started a process on",
  STEP_COMPLETED: "filled in a step of",
  STAGE_ADVANCED: "advanced",
  STAGE_MOVED_BACK: "moved back",
  INSTANCE_FINISHED: "finished the process of",
  INSTANCE_ABANDONED: "abandoned the process of",
  INSTANCE_REACTIVATED: "reactivated the process of",
  PROCESS_SWITCHED: "switched the process of",
  INSTANCE_MIGRATED: "moved to a new process version",
};

// "ana advanced Contoso – 50 laptops from Qualify to Develop"; `label` names keys.
export function describe(event, label = (key) => key) {
  const what = event.record ? event.record.name : `record ${event.recordId}`;
  if (event.kind === "STAGE_OVERDUE") return `${what} is overdue in ${label(event.toStage)}`;
  const verb = VERBS[event.kind] || event.kind.toLowerCase().replaceAll("_", " ");
  let text = `${event.actor} ${verb} ${what}`;
  if (event.kind === "STAGE_ADVANCED" || event.kind === "STAGE_MOVED_BACK") {
    text += ` from ${label(event.fromStage)} to ${label(event.toStage)}`;
  } else if (event.kind === "STEP_COMPLETED" || event.kind === "RECORD_UPDATED") {
    const fields = Object.keys(event.after?.values || {}).map(label);
    if (fields.length) text += `: ${fields.join(", ")}`;
  }
  return text;
}
