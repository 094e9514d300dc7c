// The one module that talks to the network: GraphQL over HTTP, and subscriptions over
// graphql-transport-ws, on the same origin.

// The signed-in user (from `me`), and the CSRF token every mutation sends with the cookie.
export const session = { user: null, csrf: null };

export class ApiError extends Error {
  constructor(message, code = null) {
    super(message);
    this.code = code;
  }
}

// Mutations whose input takes an idempotency key. Each user action sends a fresh key, and
// the one retry after a lost answer repeats it, so the server applies the change once.
const KEYED = new Set([
  "startInstance",
  "completeStep",
  "advanceStage",
  "moveToStage",
  "finishInstance",
  "abandonInstance",
  "reactivateInstance",
  "switchProcess",
  "createRecord",
  "updateRecord",
]);

// A 503 with one of these codes: the request may be sent again as it was.
const RETRYABLE = new Set(["DATABASE_UNAVAILABLE", "OUTCOME_UNKNOWN"]);
const RETRY_PAUSE_MS = 400;

// What a mutation that could not be completed means for the user.
export const NOT_CHANGED = "The server could not reach its database; nothing was changed.";
export const MAYBE_SAVED = "The change may not have been saved; reload to check.";
export const UNREACHABLE = `The server could not be reached. ${MAYBE_SAVED}`;

// One POST. Resolves to the payload, or to `{ lost }` when the answer is lost: "network"
// (fetch rejected, so the request may or may not have reached the server) or the code of
// a 503 that may be retried.
async function post(body) {
  const headers = { "content-type": "application/json" };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body });
  } catch (error) {
    return { lost: "network", detail: error.message };
  }
  let payload;
  try {
    payload = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without data`);
  }
  const code = payload.errors?.[0]?.extensions?.code ?? null;
  if (response.status === 503 && RETRYABLE.has(code)) return { lost: code, detail: payload.errors[0].message };
  return { payload };
}

function answer(payload) {
  if (payload.errors) {
    const code = payload.errors[0].extensions?.code ?? null;
    if (code === "UNAUTHENTICATED") signedOut();
    throw new ApiError(payload.errors.map((e) => e.message).join("; "), code);
  }
  return payload.data;
}

export async function graphql(query, variables = {}) {
  const { payload, lost, detail } = await post(JSON.stringify({ query, variables }));
  if (lost === "network") throw new ApiError(`The server cannot be reached (${detail})`);
  if (lost) throw new ApiError(detail, lost);
  return answer(payload);
}

// Every item of a paged list field: `query` takes `$after` and asks for pages of `PAGE`;
// `cursor` names the item the next page starts after.
export const PAGE = 100;
export async function everyPage(query, field, cursor) {
  const items = [];
  for (let after = null; ;) {
    const page = (await graphql(query, { after }))[field];
    items.push(...page);
    if (page.length < PAGE) return items;
    after = cursor(page[page.length - 1]);
  }
}

// A fresh idempotency key; randomUUID exists only on HTTPS and localhost pages.
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// A mutation `name` taking `{ input }`, for one user action; resolves to the data, as
// graphql() does. With a key, a lost answer is retried once, after a pause, with the same
// body; when that fails too, the error says in words whether anything may have changed.
// `extra`: variables besides the input, such as advanceStage's linkRecordId.
export async function mutate(name, query, input, extra = {}) {
  const keyed = KEYED.has(name);
  const body = JSON.stringify({ query, variables: { ...extra, input: keyed ? { ...input, idempotencyKey: newKey() } : input } });
  const lost = [];
  for (;;) {
    const sent = await post(body);
    if (!sent.lost) return answer(sent.payload);
    lost.push(sent.lost);
    if (!keyed || lost.length === 2) break;
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  // Only the server's word that the database was unavailable each time rules a change out.
  if (lost.every((reason) => reason === "DATABASE_UNAVAILABLE")) throw new ApiError(NOT_CHANGED, "NOT_CHANGED");
  throw new ApiError(lost.at(-1) === "network" ? UNREACHABLE : MAYBE_SAVED, "MAYBE_SAVED");
}

const ME = "{ me { id name role roles csrfToken } }";

// Who is signed in (null: nobody), remembered for the requests that follow.
export async function loadSession() {
  const { me } = await graphql(ME);
  session.user = me;
  session.csrf = me?.csrfToken ?? null;
  return me;
}

const SIGN_IN = `mutation($input: SignInInput!) { signIn(input: $input) {
  __typename ... on SignedIn { user { id name role roles csrfToken } }
  ... on Error { message } } }`;

export async function signIn(name, password) {
  const { signIn: result } = await graphql(SIGN_IN, { input: { name, password } });
  if (result.__typename !== "SignedIn") return result.message;
  session.user = result.user;
  session.csrf = result.user.csrfToken;
  return null;
}

export async function signOut() {
  await graphql("mutation { signOut { user { name } } }");
  signedOut();
}

function signedOut() {
  session.user = null;
  session.csrf = null;
  live.close();
  window.dispatchEvent(new Event("stageflow:signed-out"));
}

// A result union member is a success when it has no `message` (every error type has one).
export function refused(result) {
  return result && typeof result.message === "string" ? result : null;
}

const RETRY_MS = [250, 500, 1000, 2000, 4000];

// One websocket for every subscription of the page. After a dropped connection it
// reconnects and resubscribes each operation with afterSeq set to the last event it
// delivered, so nothing in between is missed; an operation that never received an
// event asks its owner to reload instead (onReset).
class Live {
  constructor() {
    this.socket = null;
    this.ready = false;
    this.nextId = 1;
    this.operations = new Map();
    this.attempt = 0;
    this.listeners = new Set();
    this.state = "closed";
    this.timer = null;
  }

  onState(listener) {
    this.listeners.add(listener);
    listener(this.state);
    return () => this.listeners.delete(listener);
  }

  setState(state) {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }

  subscribe(query, variables, { onEvent, onReset = () => {}, onError = () => {} }) {
    const id = String(this.nextId++);
    const operation = { query, variables, onEvent, onReset, onError, lastSeq: variables.afterSeq ?? null };
    this.operations.set(id, operation);
    if (this.ready) this.send(id, operation);
    else this.connect();
    return () => {
      this.operations.delete(id);
      if (this.ready) this.socket.send(JSON.stringify({ id, type: "complete" }));
    };
  }

  send(id, operation) {
    const variables = { ...operation.variables };
    if (operation.lastSeq === null) delete variables.afterSeq;
    else variables.afterSeq = operation.lastSeq;
    this.socket.send(JSON.stringify({ id, type: "subscribe", payload: { query: operation.query, variables } }));
  }

  connect() {
    if (this.socket || this.timer) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/graphql`, "graphql-transport-ws");
    this.socket = socket;
    this.setState(this.attempt ? "reconnecting" : "connecting");
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.addEventListener("message", (message) => {
      if (socket === this.socket) this.receive(JSON.parse(message.data));
    });
    socket.addEventListener("close", (event) => {
      // 4401/4403: the session ended (signed out elsewhere, revoked, user made inactive).
      if (socket === this.socket && (event.code === 4401 || event.code === 4403)) {
        this.socket = null;
        this.ready = false;
        loadSession().then((me) => (me ? this.dropped(null) : signedOut()), () => this.dropped(null));
        return;
      }
      this.dropped(socket);
    });
  }

  receive(message) {
    if (message.type === "connection_ack") {
      const resumed = this.attempt > 0;
      this.ready = true;
      this.attempt = 0;
      this.setState("open");
      for (const [id, operation] of this.operations) {
        if (resumed && operation.lastSeq === null) operation.onReset();
        this.send(id, operation);
      }
    } else if (message.type === "ping") {
      this.socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next") {
      const operation = this.operations.get(message.id);
      if (!operation) return;
      if (message.payload.errors) {
        operation.onError(message.payload.errors.map((e) => e.message).join("; "));
        return;
      }
      const event = Object.values(message.payload.data)[0];
      if (operation.lastSeq !== null && event.seq <= operation.lastSeq) return;
      operation.lastSeq = event.seq;
      operation.onEvent(event);
    } else if (message.type === "error") {
      const operation = this.operations.get(message.id);
      if (operation) operation.onError(message.payload.map((e) => e.message).join("; "));
    }
  }

  dropped(socket) {
    if (socket !== null && this.socket !== socket) return;
    this.socket = null;
    this.ready = false;
    if (this.operations.size === 0) {
      this.setState("closed");
      return;
    }
    this.setState("reconnecting");
    const wait = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, wait);
  }

  // Ends every subscription and the connection (on sign-out).
  close() {
    this.operations.clear();
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) this.socket.close();
  }

  // Drops the connection as a network failure would, staying offline for `pauseMs`;
  // the page then reconnects by itself and catches up.
  interrupt(pauseMs = 0) {
    if (!this.socket) return;
    const socket = this.socket;
    this.dropped(socket);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, pauseMs);
    socket.close();
  }

  // Ends an interruption now rather than when its pause is over.
  resume() {
    if (this.timer === null || this.socket) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }
}

export const live = new Live();

// The gate's refusal as people read it.
export function gateMessage(refusal) {
  const missing = refusal.missingSteps.map((m) => m.field.label).join(", ");
  return `${refusal.stage.name} cannot be left yet. Missing: ${missing}.`;
}

// Query documents and mutations the pages share.

// Selections of refusals; a union may only name the members it has.
export const RESULT_ERRORS = "... on Error { message }";
export const GATE = "... on StageGateBlocked { stage { name } missingSteps { field { key label } } }";
export const CONFLICT = "... on VersionConflict { currentVersion }";

export const EVENT_FIELDS = `seq kind actor at recordId instanceId processId fromStage toStage before after
  record { id name }`;
