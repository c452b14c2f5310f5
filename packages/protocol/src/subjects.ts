/**
 * NATS subjects are built here and nowhere else. Every subject is versioned and starts with a
 * root (default `mcpbus`) so tests and tenants can share one NATS server without crosstalk.
 */
export const SUBJECT_VERSION = 'v1';
export const DEFAULT_SUBJECT_ROOT = 'mcpbus';
/** Queue group that workers answer list and call requests in. */
export const WORKER_QUEUE = 'mcpbus-workers';

const ROOT_PATTERN = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const CALL_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Server names may contain `.`, which NATS reads as a token separator. Encode them into one
 * token with a prefix-free code (`_` → `__`, `.` → `_d`), so the mapping is reversible.
 */
export function serverToken(server: string): string {
  return server.replace(/_/g, '__').replace(/\./g, '_d');
}

export function serverFromToken(token: string): string {
  return token.replace(/_(_|d)/g, (_m, c: string) => (c === '_' ? '_' : '.'));
}

export function isValidCallId(callId: string): boolean {
  return CALL_ID_PATTERN.test(callId);
}

export interface Subjects {
  readonly root: string;
  /** Request/reply: aggregated tool catalog. */
  toolsList(): string;
  /** Request/reply: call a tool of one server. */
  toolsCall(server: string): string;
  /** Wildcard a worker subscribes to for calls of every server. */
  toolsCallAny(): string;
  /** Progress events of one call, published by whoever runs it. */
  callEvents(callId: string): string;
  /** Cancellation of one call; every worker listens (no queue group). */
  callCancel(callId: string): string;
  /** Wildcard for every call's cancel subject. */
  callCancelAny(): string;
  /** Request/reply: aggregated resources, resource templates or prompts. */
  itemsList(): string;
  /** Request/reply: one resources/read, prompts/get or completion/complete for a server. */
  serverRpc(server: string): string;
  /** Wildcard a worker subscribes to for every server's RPCs. */
  serverRpcAny(): string;
  /** Broadcast: an upstream said its tools, resources or prompts changed. */
  catalogChanged(): string;
  /** Request/reply: one task (a call run as a job) of its owner, with its outcome when asked. */
  tasksGet(): string;
  /** Request/reply: the owner's tasks, oldest first, a page at a time. */
  tasksList(): string;
  /** Request/reply: cancel a task; the runner holding it hears it on the call's cancel subject. */
  tasksCancel(): string;
  /** Request/reply: any worker alive? Used by readiness probes. */
  workersPing(): string;
  /** Publish: one audit record per tool call (who, which tool, outcome, duration). */
  auditCalls(): string;
  /** JetStream: a durable submission of a call to one server (a job whose outcome is kept). */
  submit(server: string): string;
  /** Every server's submission subject: what the submissions stream holds. */
  submitAny(): string;
  /** Name of the JetStream stream that holds submissions. */
  readonly submitStream: string;
  /**
   * NATS KV buckets shared by every replica: virtual keys (by digest), teams, servers added
   * through the admin API, and the Streamable HTTP sessions of 2025-era clients.
   */
  readonly buckets: { readonly keys: string; readonly teams: string; readonly servers: string; readonly sessions: string };
  /**
   * Broadcast to every ingress: a stateless 2025-era client sent `notifications/cancelled` for one
   * of its requests; the replica holding that request (or its job) acts on it.
   */
  requestCancelled(): string;
  /**
   * Request/reply: a message POSTed for a legacy SSE session, delivered to whichever ingress
   * replica holds the session's stream.
   */
  sessionMessages(sessionId: string): string;
  /** Publish: server-to-client requests for the caller of a running call (push mode), worker → ingress. */
  callInput(callId: string): string;
  /** Publish: the caller's answers to them, from whichever ingress the client's answer reached, → worker. */
  callAnswers(callId: string): string;
  /** Request/reply: a parked call's next round (2026 clients' retries with inputResponses), → the worker holding it. */
  callResume(callId: string): string;
  /** Request/reply to one ingress (by its instance id): resume an SSE call stream it holds, for a client that reconnected to any replica. */
  streamResume(ingressId: string): string;
  /** Publish to one ingress: the client of a resumed stream left again (a StreamResumeRequest naming its `deliver`). */
  streamDetach(ingressId: string): string;
  /** Request/reply, queue group: subscribe a client to one upstream resource of a server; the worker that answers holds the lease. */
  resourcesSubscribe(server: string): string;
  /** Wildcard a worker subscribes to for every server's resource subscriptions. */
  resourcesSubscribeAny(): string;
  /** Request/reply to one worker: renew or release the resource leases it holds. */
  resourceLeases(workerId: string): string;
  /** Broadcast: a resource that clients subscribed to changed upstream; every ingress listens. */
  resourcesUpdated(): string;
}

export function createSubjects(root: string = DEFAULT_SUBJECT_ROOT): Subjects {
  if (!ROOT_PATTERN.test(root)) throw new Error(`invalid subject root "${root}": use lowercase letters, digits, '_', '-' and '.'`);
  const base = `${root}.${SUBJECT_VERSION}`;
  const streamPrefix = `MCPBUS_${root.replace(/[.-]/g, '_').toUpperCase()}`;
  const checkedCallId = (callId: string): string => {
    if (!isValidCallId(callId)) throw new Error(`invalid call id "${callId}"`);
    return callId;
  };
  // Ingress ids are one token of the call-id alphabet.
  const checkedIngressId = (ingressId: string): string => {
    if (!isValidCallId(ingressId)) throw new Error(`invalid ingress id "${ingressId}"`);
    return ingressId;
  };
  return Object.freeze({
    root,
    toolsList: () => `${base}.tools.list`,
    toolsCall: (server: string) => `${base}.tools.call.${serverToken(server)}`,
    toolsCallAny: () => `${base}.tools.call.*`,
    callEvents: (callId: string) => `${base}.calls.${checkedCallId(callId)}.events`,
    callCancel: (callId: string) => `${base}.calls.${checkedCallId(callId)}.cancel`,
    callCancelAny: () => `${base}.calls.*.cancel`,
    itemsList: () => `${base}.items.list`,
    serverRpc: (server: string) => `${base}.rpc.${serverToken(server)}`,
    serverRpcAny: () => `${base}.rpc.*`,
    catalogChanged: () => `${base}.catalog.changed`,
    tasksGet: () => `${base}.tasks.get`,
    tasksList: () => `${base}.tasks.list`,
    tasksCancel: () => `${base}.tasks.cancel`,
    workersPing: () => `${base}.workers.ping`,
    requestCancelled: () => `${base}.requests.cancelled`,
    auditCalls: () => `${base}.audit.calls`,
    submit: (server: string) => `${base}.submit.${serverToken(server)}`,
    submitAny: () => `${base}.submit.*`,
    submitStream: `${streamPrefix}_SUBMIT`,
    buckets: Object.freeze({ keys: `${streamPrefix}_KEYS`, teams: `${streamPrefix}_TEAMS`, servers: `${streamPrefix}_SERVERS`, sessions: `${streamPrefix}_SESSIONS` }),
    sessionMessages: (sessionId: string) => `${base}.sessions.${checkedCallId(sessionId)}.messages`,
    callInput: (callId: string) => `${base}.calls.${checkedCallId(callId)}.input`,
    callAnswers: (callId: string) => `${base}.calls.${checkedCallId(callId)}.answers`,
    callResume: (callId: string) => `${base}.calls.${checkedCallId(callId)}.resume`,
    streamResume: (ingressId: string) => `${base}.streams.${checkedIngressId(ingressId)}.resume`,
    streamDetach: (ingressId: string) => `${base}.streams.${checkedIngressId(ingressId)}.detach`,
    resourcesSubscribe: (server: string) => `${base}.resources.subscribe.${serverToken(server)}`,
    resourcesSubscribeAny: () => `${base}.resources.subscribe.*`,
    resourceLeases: (workerId: string) => {
      // Worker ids are one token of the call-id alphabet.
      if (!isValidCallId(workerId)) throw new Error(`invalid worker id "${workerId}"`);
      return `${base}.workers.${workerId}.leases`;
    },
    resourcesUpdated: () => `${base}.resources.updated`,
  });
}
