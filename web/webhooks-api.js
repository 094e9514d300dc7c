// The webhooks page's talk with the server, through api.js: the registry, each webhook's
// delivery log, and the changes designers and admins make. `refused` tells a refusal apart.
import { graphql, mutate, refused } from "./api.js";

export { refused };

export const TOPICS = [
  ["STAGE_ENTERED", "Stage entered"],
  ["STAGE_LEFT", "Stage left"],
  ["STEP_COMPLETED", "Step completed"],
  ["FINISHED", "Finished"],
  ["ABANDONED", "Abandoned"],
  ["REACTIVATED", "Reactivated"],
  ["PROCESS_SWITCHED", "Process switched"],
  ["INSTANCE_MIGRATED", "Instance migrated"],
  ["STAGE_OVERDUE", "Stage overdue"],
];
export const LOG_PAGE = 20;

const WEBHOOK = `id url description topics processIds stages entities status pausedReason
  consecutiveFailures version createdBy createdAt updatedAt`;
const DELIVERY = `id seq kind state attempts nextAt createdAt lastStatus lastError lastDurationMs lastAttemptAt`;
const ERRORS = "... on Error { message }";
const REFUSALS = `${ERRORS} ... on VersionConflict { currentVersion }`;

// Two reads: each list of webhooks is priced at the most that may be registered, and the
// processes by what is published; asked apart, each stays within the cost of one query.
const LIST = `query Webhooks { webhooks { ${WEBHOOK} } }`;
const CHOICES = `query WebhookChoices {
  processes { id key name entity { key } stages { key name } }
  entities { key name }
}`;
const LOG = `query WebhookLog($id: ID!, $after: String) {
  webhook(id: $id) { id deliveries(first: ${LOG_PAGE}, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { ${DELIVERY} } } } }
}`;
const CREATE = `mutation CreateWebhook($input: CreateWebhookInput!) {
  createWebhook(input: $input) { ... on WebhookCreated { secret webhook { ${WEBHOOK} } } ${ERRORS} }
}`;
const UPDATE = `mutation UpdateWebhook($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) { ... on WebhookSaved { webhook { ${WEBHOOK} } } ${REFUSALS} }
}`;
const change = (name, result, fields) => `mutation ${name[0].toUpperCase()}${name.slice(1)}($input: WebhookInput!) {
  ${name}(input: $input) { ... on ${result} { ${fields} } ${REFUSALS} }
}`;
const PAUSE = change("pauseWebhook", "WebhookSaved", `webhook { ${WEBHOOK} }`);
const RESUME = change("resumeWebhook", "WebhookSaved", `webhook { ${WEBHOOK} }`);
const DELETE = change("deleteWebhook", "WebhookDeleted", "webhook { id }");
const RENEW = change("renewWebhookSecret", "WebhookSecretRenewed", `secret webhook { ${WEBHOOK} }`);
const REDELIVER = `mutation RedeliverDelivery($input: RedeliverDeliveryInput!) {
  redeliverDelivery(input: $input) { ... on DeliveryScheduled { delivery { ${DELIVERY} } } ${ERRORS} }
}`;

export async function load() {
  const [{ webhooks }, { processes, entities }] = await Promise.all([graphql(LIST), graphql(CHOICES)]);
  return { webhooks, processes, entities };
}

// A page of a webhook's deliveries, newest first: { items, next } (next: the cursor, or null).
export async function deliveries(id, after = null) {
  const { webhook } = await graphql(LOG, { id, after });
  if (!webhook) return { items: [], next: null };
  const page = webhook.deliveries;
  return { items: page.edges.map((edge) => edge.node), next: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null };
}

const first = (data) => Object.values(data)[0];

export const create = async (input) => first(await mutate("createWebhook", CREATE, input));
export const update = async (input) => first(await mutate("updateWebhook", UPDATE, input));
export const pause = async (webhook) => first(await mutate("pauseWebhook", PAUSE, stamp(webhook)));
export const resume = async (webhook) => first(await mutate("resumeWebhook", RESUME, stamp(webhook)));
export const remove = async (webhook) => first(await mutate("deleteWebhook", DELETE, stamp(webhook)));
export const renew = async (webhook) => first(await mutate("renewWebhookSecret", RENEW, stamp(webhook)));
export const redeliver = async (delivery) => first(await mutate("redeliverDelivery", REDELIVER, { id: delivery.id }));

// A change made on the webhook as the page shows it: refused if someone changed it since.
function stamp(webhook) {
  return { id: webhook.id, expectedVersion: webhook.version };
}
