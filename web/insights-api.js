// The insights page's talk with the server, through api.js: the processes to pick from,
// the one shown, and its figures for a set of filters.
import { graphql } from "./api.js";

const DURATIONS = "count p50Seconds p90Seconds meanSeconds";

const PROCESSES = `query InsightsProcesses { processes { id key name entity { key name } } }`;

const PROCESS = `query InsightsProcess($id: ID!) {
  processes { id key name entity { name } }
  process(id: $id) { id key name version versions { number }
    entity { key name fields { key label type currency } }
    outcomes { key label }
    stages { key name } }
}`;

const FIGURES = `query Insights($input: InsightsInput!, $days: Int!) {
  lastEventSeq
  insights(input: $input) {
    processId
    owners
    funnel { stage name reached advanced finished abandoned active conversion dropOff }
    outcomes { ended finished abandoned
      outcomes { outcome label count rate }
      reasons { outcome reason count } }
    timeInStage { stage name stays { ${DURATIONS} } perInstance { ${DURATIONS} } }
    cycleTime { ${DURATIONS} }
    stuck(days: $days, first: 50) { instanceId recordId recordName owner stage stageName since days dueAt overdue }
    throughput { start started advanced finished abandoned }
    pipeline { amountField closeDateField currency count amount weighted
      byStage { stage name probability count amount weighted }
      byMonth { month count amount weighted } }
  }
}`;

export const loadProcesses = async () => (await graphql(PROCESSES)).processes;
export const loadProcess = (id) => graphql(PROCESS, { id });

// The figures and the seq they are as of: { insights, lastEventSeq }; insights is null when
// the process does not exist or the user may not run it.
export function loadFigures(input, days) {
  return graphql(FIGURES, { input, days });
}
