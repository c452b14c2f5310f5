import type { ErrorBody } from './errors.js';

/**
 * Bodies of bus messages (version 1). Each has a JSON Schema below; receivers validate with it.
 * Deadlines travel as absolute epoch milliseconds (`deadlineAt`) so every hop honours the same one.
 */
export const PROTOCOL_VERSION = 1;

/** `_meta` key of a call result that failed the tool's input schema; its value lists the problems. */
export const INVALID_ARGUMENTS_META_KEY = 'mcpbus/invalidArguments';
/** `_meta` key under which tools/list reports servers that are missing from the list. */
export const FAILURES_META_KEY = 'mcpbus/failures';

/** The owner of calls whose caller presents no key (no master key configured). */
export const ANONYMOUS_OWNER = 'anonymous';

/** `_meta` key of a `tools/call` naming the caller's idempotency key (makes a job call retriable and deduplicated). */
export const IDEMPOTENCY_KEY_META_KEY = 'mcpbus/idempotencyKey';

export interface ListToolsRequest {
  v: 1;
  deadlineAt: number;
  /** Only these servers; all configured servers when absent. */
  servers?: string[];
}

/** A tool as the catalog exposes it: the MCP Tool object with its gateway name. */
export interface CatalogTool {
  /** The name clients see (`<server><sep><tool>`, possibly shortened). */
  name: string;
  server: string;
  /** The tool's name on its upstream server. */
  upstreamName: string;
  /** The MCP `Tool` object, `name` already replaced by the exposed name. */
  tool: Record<string, unknown> & { name: string; inputSchema: Record<string, unknown> };
}

export interface ServerFailure {
  server: string;
  code: string;
  message: string;
}

export interface ListToolsResult {
  tools: CatalogTool[];
  /** Servers whose tools are missing from this list, and why. */
  failures: ServerFailure[];
}

/** The server-to-client requests an upstream may make of the client during a call. */
export const INPUT_METHODS = ['elicitation/create', 'sampling/createMessage', 'roots/list'] as const;
export type InputMethod = (typeof INPUT_METHODS)[number];
/** The client capabilities that let an upstream make them (`elicitation`, `sampling`, `roots`). */
export const INPUT_CAPABILITIES = ['elicitation', 'sampling', 'roots'] as const;

/** Whether client capabilities let an upstream ask the client for input. */
export function declaresInputCapability(capabilities: Record<string, unknown> | undefined): capabilities is Record<string, unknown> {
  return capabilities !== undefined && INPUT_CAPABILITIES.some((c) => capabilities[c] !== undefined);
}

/** Server-to-client requests, keyed (the MCP `inputRequests` shape). */
export type InputRequests = Record<string, { method: InputMethod; params?: Record<string, unknown> }>;

/**
 * What the caller of a call can answer when the upstream asks for input: the MCP client
 * capabilities it declared (only `elicitation`, `sampling` and `roots` count), and how it is
 * asked. `push`: the worker publishes InputRequestEvents on `calls.<id>.input` and waits for
 * InputAnswers on `calls.<id>.answers` (2025-era clients, asked on their open stream). `mrtr`:
 * the worker replies `inputRequired` and the client retries the call with `inputResponses` and
 * the `requestState` it was given (2026-07-28 clients). The ingress sends `mrtr` for every 2026
 * client, with empty capabilities when it can answer nothing: the worker then still knows not to
 * answer it what only 2025 clients take (an upstream's `-32042`).
 */
export interface CallInteraction {
  capabilities: Record<string, unknown>;
  mode: 'push' | 'mrtr';
  /**
   * The level of log messages the caller asked for, in either mode: a 2025 client's
   * `logging/setLevel` (push), a 2026 request's `_meta` level (mrtr, with `capabilities` `{}`
   * when it cannot answer input). The upstream is told it, and its log messages during the call
   * come to the caller as CallLogEvents on `calls.<id>.input`. Without it the caller gets none.
   */
  logLevel?: LoggingLevel;
}

/** MCP's syslog levels, least severe first. */
export const LOGGING_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LoggingLevel = (typeof LOGGING_LEVELS)[number];

/** An upstream's `notifications/message` during a call with `interaction.logLevel`, for its caller (worker → ingress, on `calls.<id>.input`). */
export interface CallLogEvent {
  v: 1;
  callId: string;
  level: LoggingLevel;
  logger?: string;
  data?: unknown;
}

export interface CallToolRequest {
  v: 1;
  callId: string;
  server: string;
  /** The exposed (prefixed) tool name the client called, or its upstream name when `byUpstreamName`. */
  name: string;
  /** Set by routes scoped to one server (`/mcp/{server}`), where clients see original names. */
  byUpstreamName?: boolean;
  arguments?: Record<string, unknown>;
  /** Publish progress events on the call's events subject. */
  progress: boolean;
  deadlineAt: number;
  /**
   * The client takes a task in place of a result: the call runs as a job and the reply is the
   * task, at once. With `onlyIfJob`, only when the call runs as a job anyway (by config).
   */
  task?: { ttlMs?: number; onlyIfJob?: boolean };
  /** The client's own progress token, kept with a task so a later `tasks/result` can relay progress. */
  progressToken?: string | number;
  /** Deduplicates the call per owner and allows a job to be retried after a runner died. */
  idempotencyKey?: string;
  /**
   * The caller's own credentials for this server (`x-mcp-{server}-{header}`, `x-mcp-auth`), sent
   * upstream as HTTP headers on sessions of their own, never shared with another caller.
   */
  upstreamHeaders?: Record<string, string>;
  /** What the caller can answer of server-to-client requests; without it the upstream cannot make any. */
  interaction?: CallInteraction;
  /** A 2026 client's retry: its answers to the last `inputRequired`, keyed as asked. */
  inputResponses?: Record<string, unknown>;
  /** A 2026 client's retry: the `requestState` mcpbus gave it, byte for byte. */
  requestState?: string;
}

/** The upstream asks the client for input before the call can go on (mrtr mode). */
export interface InputRequired {
  inputRequests: InputRequests;
  /** Sealed by mcpbus: the client sends it back with its answers; anything else is refused. */
  requestState: string;
}

/** Push mode: a server-to-client request for the caller of call `callId` (worker → ingress). */
export interface InputRequestEvent {
  v: 1;
  callId: string;
  /** Names the request; the answer carries it back. */
  key: string;
  method: InputMethod;
  params?: Record<string, unknown>;
  /** When the worker stops waiting for the answer. */
  deadlineAt: number;
}

/**
 * Push mode: the upstream closed the call's SSE stream before answering, and mcpbus's session with
 * it resumes the stream (SEP-1699 polling). The caller's stream is closed the same way, to be
 * resumed with Last-Event-ID (worker → ingress, on `calls.<id>.input`).
 */
export interface CallStreamPaused {
  v: 1;
  callId: string;
  paused: true;
}

/**
 * A client resumes one of mcpbus's SSE call streams (GET with Last-Event-ID) on any ingress:
 * that replica asks the replica holding the call (`streams.<ingress>.resume`) to deliver the
 * stream's events after `after` to `deliver`, as StreamDeliveries. The key header must be the
 * caller's; the reply is a Reply.
 */
export interface StreamResumeRequest {
  v: 1;
  stream: string;
  /** The sequence number of the last event the client got. */
  after: number;
  /** The client's Mcp-Session-Id: a stream is resumed only within the session that opened it. */
  sessionId: string;
  /** Where the events go: a subject of the resuming replica. */
  deliver: string;
}

/**
 * One message of a resumed stream (→ the resuming replica): an event with its sequence number and
 * its JSON-RPC message as sent (`final` on the call's answer, the last one), or the end of this
 * delivery without an answer (`end`: the upstream paused the stream again, a newer resume took it
 * over, or the replica holding the call is stopping), or `alive`: the holder asks (as a request)
 * whether this replica still relays the stream, and the replica answers `alive` back.
 */
export interface StreamDelivery {
  v: 1;
  seq?: number;
  /** The event's JSON-RPC message, as JSON text. */
  data?: string;
  final?: true;
  end?: 'paused' | 'superseded' | 'stopping';
  alive?: true;
}

/** The caller's answer to an InputRequestEvent (→ worker). The key header must be the call's caller's. */
export interface InputAnswer {
  v: 1;
  callId: string;
  key: string;
  result?: Record<string, unknown>;
  /** The client answered with a JSON-RPC error. */
  error?: { code: number; message: string };
}

/** A 2026 client's retry of a parked call, forwarded to the worker holding it; the reply is a CallToolReply. */
export interface ResumeRequest {
  v: 1;
  callId: string;
  /**
   * The input round the retry answers (1, 2, …), as its requestState names it: the worker holding
   * the call refuses any other than the one the call waits on, so an old state is never applied
   * to a later round.
   */
  round: number;
  inputResponses: Record<string, unknown>;
  /**
   * The retry's own call id, when its client wants progress: the parked call's progress is
   * published on that call's events subject from now on, numbered from 1, and the reply's
   * `events` counts them.
   */
  progressCallId?: string;
  deadlineAt: number;
}

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface ProgressUpdate {
  progress: number;
  total?: number;
  message?: string;
}

/** A call run as a job, as its owner may see it. Times are epoch milliseconds. */
export interface TaskInfo {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: number;
  lastUpdatedAt: number;
  /** Kept this long after its last change. */
  ttlMs: number;
  pollIntervalMs: number;
  server: string;
  /** The tool name the client called. */
  tool: string;
  /** Progress updates so far; the latest is `progress`. */
  events: number;
  progress?: ProgressUpdate;
  /** A completed task whose tool result is an error (`isError: true`): 2025-era clients see it as failed. */
  resultIsError?: boolean;
}

/** How a task ended: the tool's result (an `isError` result included), or the error the call failed with. */
export type TaskOutcome = { ok: true; result: Record<string, unknown> } | { ok: false; error: ErrorBody };

/** Published on the call's events subject when a job ends, after all its progress events. */
export interface ResultEvent {
  v: 1;
  type: 'result';
  callId: string;
  /** How many progress events were published before this one. */
  events: number;
  task: TaskInfo;
  outcome: TaskOutcome;
}

/**
 * Task requests see the tasks of the key in their Mcpbus-Api-Key header only. Their
 * `deadlineAt` (optional, for clients older than it) is when the asker stops waiting: a worker
 * that picks a request up later answers `timeout` without doing it.
 */
export interface TaskGetRequest {
  v: 1;
  taskId: string;
  deadlineAt?: number;
  /** Include the outcome when the task has ended. */
  outcome?: boolean;
}

export interface TaskGetResult {
  task: TaskInfo;
  outcome?: TaskOutcome;
  progressToken?: string | number;
}

export interface TaskListRequest {
  v: 1;
  deadlineAt?: number;
  cursor?: string;
  limit?: number;
}

export interface TaskListResult {
  tasks: TaskInfo[];
  nextCursor?: string;
}

export interface TaskCancelRequest {
  v: 1;
  taskId: string;
  deadlineAt?: number;
  reason?: string;
}

export interface ProgressEvent {
  v: 1;
  type: 'progress';
  callId: string;
  /** 1, 2, 3, … per call, so a receiver can order and count them. */
  seq: number;
  progress: number;
  total?: number;
  message?: string;
}

export interface CancelMessage {
  v: 1;
  callId: string;
  reason?: string;
}

/** Kinds of aggregated list besides tools. */
export type ItemKind = 'resources' | 'resourceTemplates' | 'prompts';

export interface ListItemsRequest {
  v: 1;
  kind: ItemKind;
  deadlineAt: number;
  servers?: string[];
}

/** One resource, template or prompt, already namespaced, with where it came from. */
export interface ListedItem {
  server: string;
  /** The upstream's own URI, URI template or prompt name. */
  upstreamId: string;
  item: Record<string, unknown>;
}

export interface ListItemsResult {
  items: ListedItem[];
  failures: ServerFailure[];
}

/** Server-directed MCP requests relayed as they are (identifiers mapped back to the upstream's). */
export type ServerRpcMethod = 'resources/read' | 'prompts/get' | 'completion/complete';

export interface ServerRpcRequest {
  v: 1;
  server: string;
  method: ServerRpcMethod;
  params: Record<string, unknown>;
  /**
   * A 2026 client that can answer input (`resources/read`, `prompts/get`): its capabilities go to
   * a 2026 upstream, whose `input_required` comes back with a sealed requestState; its retry
   * carries `inputResponses` and that state.
   */
  interaction?: { capabilities: Record<string, unknown> };
  inputResponses?: Record<string, unknown>;
  requestState?: string;
  /** Set by single-server routes, where clients use the upstream's own names and URIs. */
  byUpstreamName?: boolean;
  deadlineAt: number;
}

/** What changed upstream, broadcast so ingresses can tell connected clients. */
export interface CatalogChanged {
  v: 1;
  server: string;
  kind: 'tools' | 'resources' | 'prompts';
}

/**
 * Subscribes one subscriber (a client connection's subscription, named by whoever asks) to
 * updates of one upstream resource. The worker that answers holds it as a lease of `leaseMs`:
 * renewed through `workers.<workerId>.leases`, or dropped when it lapses. However many subscribers
 * a worker holds for one resource, it keeps one subscription upstream. Idempotent per subscriber.
 */
export interface ResourceSubscribeRequest {
  v: 1;
  server: string;
  /** The upstream's own URI of the resource. */
  uri: string;
  /** `[A-Za-z0-9_-]{1,64}`, unique per subscription; random, since it is also what renews and releases it. */
  subscriber: string;
  deadlineAt: number;
}

/** Who holds a resource subscription, and how long it lasts unless renewed. */
export interface ResourceSubscription {
  workerId: string;
  leaseMs: number;
}

/** Renews or releases resource subscriptions held by one worker (the key must be the one that subscribed). */
export interface ResourceLeaseRequest {
  v: 1;
  op: 'renew' | 'release';
  subscribers: string[];
  deadlineAt: number;
}

export interface ResourceLeaseResult {
  /** Subscribers this worker does not hold (any more): to renew one, subscribe it again. */
  unknown: string[];
}

/** Broadcast by the worker whose upstream said a subscribed resource changed. */
export interface ResourceUpdated {
  v: 1;
  server: string;
  /** The namespaced URI clients see (`mcpbus://<server>/<upstream uri>`). */
  uri: string;
}

/**
 * A JSON-RPC message for a legacy SSE session, forwarded to the replica holding its stream. The
 * POST's key travels in the Mcpbus-Api-Key header and must be the key that opened the session.
 */
export interface SessionMessage {
  v: 1;
  message: Record<string, unknown>;
}

/**
 * A 2025-era client's `notifications/cancelled`, for the replica that holds the request it names.
 * Whose request it is comes from the key in the Mcpbus-Api-Key header.
 */
export interface RequestCancelled {
  v: 1;
  /** The client's Mcp-Session-Id, when it has one: narrows the match. */
  sessionId?: string;
  /** The JSON-RPC id of the cancelled request, as the client sent it. */
  requestId: string | number;
  reason?: string;
}

/** How a call ended, for the audit trail. */
export type AuditOutcome = 'ok' | 'tool_error' | 'error' | 'queued';

/** One tool call, as the audit trail records it (published on `audit.calls` and logged). */
export interface CallAudit {
  v: 1;
  /** ISO time the call ended (or was queued). */
  at: string;
  callId: string;
  /** Fingerprint of the caller's key (`anonymous` without one); never the key. */
  owner: string;
  server: string;
  tool: string;
  /** `queued`: it became a job, whose own record follows when it ends (`job: true`). */
  outcome: AuditOutcome;
  /** The error code, for `error`. */
  errorCode?: string;
  durationMs: number;
  job: boolean;
  /** Only when `mcpbus_settings.audit_arguments` is on. */
  arguments?: Record<string, unknown>;
}

export interface CallToolOk {
  ok: true;
  result: Record<string, unknown>;
  /** How many progress events were published before this reply. */
  events: number;
}

export type Reply<T> = { ok: true; result: T } | { ok: false; error: ErrorBody };
/** The call became a job: its outcome arrives later as a ResultEvent (or through `tasks.get`). */
export interface CallAccepted {
  ok: true;
  task: TaskInfo;
}

/** The upstream asks the client for input: answer the client with `input_required` (mrtr mode). */
export interface CallNeedsInput {
  ok: true;
  inputRequired: InputRequired;
  events: number;
}

export type CallToolReply = CallToolOk | CallAccepted | CallNeedsInput | { ok: false; error: ErrorBody };

const serverName = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,40}$' } as const;
const deadlineAt = { type: 'integer', minimum: 0 } as const;
const callId = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const;
const inputKey = { type: 'string', minLength: 1, maxLength: 128 } as const;
const resourceUri = { type: 'string', minLength: 1, maxLength: 8192 } as const;
const progressUpdate = {
  type: 'object',
  required: ['progress'],
  properties: { progress: { type: 'number' }, total: { type: 'number' }, message: { type: 'string' } },
} as const;
const taskInfo = {
  type: 'object',
  required: ['taskId', 'status', 'createdAt', 'lastUpdatedAt', 'ttlMs', 'pollIntervalMs', 'server', 'tool', 'events'],
  properties: {
    taskId: callId,
    status: { enum: ['working', 'input_required', 'completed', 'failed', 'cancelled'] },
    statusMessage: { type: 'string' },
    createdAt: { type: 'integer' },
    lastUpdatedAt: { type: 'integer' },
    ttlMs: { type: 'integer' },
    pollIntervalMs: { type: 'integer' },
    server: { type: 'string' },
    tool: { type: 'string' },
    events: { type: 'integer', minimum: 0 },
    progress: progressUpdate,
    resultIsError: { type: 'boolean' },
  },
} as const;
const errorBody = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, data: { type: 'object' } },
} as const;
const taskOutcome = {
  oneOf: [
    { type: 'object', required: ['ok', 'result'], properties: { ok: { const: true }, result: { type: 'object' } } },
    { type: 'object', required: ['ok', 'error'], properties: { ok: { const: false }, error: errorBody } },
  ],
} as const;

/** JSON Schemas of every bus body, keyed by message name. */
export const SCHEMAS = Object.freeze({
  ListToolsRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/list-tools-request.json',
    type: 'object',
    required: ['v', 'deadlineAt'],
    properties: {
      v: { const: 1 },
      deadlineAt,
      servers: { type: 'array', items: serverName, maxItems: 1000 },
    },
    additionalProperties: false,
  },
  CallToolRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/call-tool-request.json',
    type: 'object',
    required: ['v', 'callId', 'server', 'name', 'progress', 'deadlineAt'],
    properties: {
      v: { const: 1 },
      callId,
      server: serverName,
      name: { type: 'string', minLength: 1, maxLength: 256 },
      byUpstreamName: { type: 'boolean' },
      arguments: { type: 'object' },
      progress: { type: 'boolean' },
      deadlineAt,
      task: { type: 'object', properties: { ttlMs: { type: 'integer', minimum: 0 }, onlyIfJob: { type: 'boolean' } }, additionalProperties: false },
      progressToken: { type: ['string', 'integer'] },
      idempotencyKey: { type: 'string', minLength: 1, maxLength: 256 },
      upstreamHeaders: { type: 'object', maxProperties: 32, propertyNames: { pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,128}$' }, additionalProperties: { type: 'string', maxLength: 8192 } },
      interaction: {
        type: 'object',
        required: ['capabilities', 'mode'],
        properties: { capabilities: { type: 'object' }, mode: { enum: ['push', 'mrtr'] }, logLevel: { enum: LOGGING_LEVELS } },
        additionalProperties: false,
      },
      inputResponses: { type: 'object', maxProperties: 64 },
      requestState: { type: 'string', maxLength: 65536 },
    },
    additionalProperties: false,
  },
  CallLogEvent: {
    $id: 'https://mcpbus.dev/schemas/v1/call-log-event.json',
    type: 'object',
    required: ['v', 'callId', 'level'],
    properties: { v: { const: 1 }, callId, level: { enum: LOGGING_LEVELS }, logger: { type: 'string', maxLength: 256 }, data: {} },
    additionalProperties: false,
  },
  CallStreamPaused: {
    $id: 'https://mcpbus.dev/schemas/v1/call-stream-paused.json',
    type: 'object',
    required: ['v', 'callId', 'paused'],
    properties: { v: { const: 1 }, callId, paused: { const: true } },
    additionalProperties: false,
  },
  StreamResumeRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/stream-resume-request.json',
    type: 'object',
    required: ['v', 'stream', 'after', 'sessionId', 'deliver'],
    properties: {
      v: { const: 1 },
      stream: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
      after: { type: 'integer', minimum: 0 },
      sessionId: { type: 'string', minLength: 1, maxLength: 256 },
      deliver: { type: 'string', pattern: '^_INBOX\\.', maxLength: 256 },
    },
    additionalProperties: false,
  },
  StreamDelivery: {
    $id: 'https://mcpbus.dev/schemas/v1/stream-delivery.json',
    type: 'object',
    required: ['v'],
    properties: {
      v: { const: 1 },
      seq: { type: 'integer', minimum: 1 },
      data: { type: 'string' },
      final: { const: true },
      end: { enum: ['paused', 'superseded', 'stopping'] },
      alive: { const: true },
    },
    additionalProperties: false,
  },
  InputRequestEvent: {
    $id: 'https://mcpbus.dev/schemas/v1/input-request-event.json',
    type: 'object',
    required: ['v', 'callId', 'key', 'method', 'deadlineAt'],
    properties: { v: { const: 1 }, callId, key: inputKey, method: { enum: INPUT_METHODS }, params: { type: 'object' }, deadlineAt },
    additionalProperties: false,
  },
  InputAnswer: {
    $id: 'https://mcpbus.dev/schemas/v1/input-answer.json',
    type: 'object',
    required: ['v', 'callId', 'key'],
    properties: {
      v: { const: 1 },
      callId,
      key: inputKey,
      result: { type: 'object' },
      error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'integer' }, message: { type: 'string', maxLength: 4096 } } },
    },
    additionalProperties: false,
  },
  ResumeRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/resume-request.json',
    type: 'object',
    required: ['v', 'callId', 'round', 'inputResponses', 'deadlineAt'],
    properties: { v: { const: 1 }, callId, round: { type: 'integer', minimum: 1 }, inputResponses: { type: 'object', maxProperties: 64 }, progressCallId: callId, deadlineAt },
    additionalProperties: false,
  },
  ResultEvent: {
    $id: 'https://mcpbus.dev/schemas/v1/result-event.json',
    type: 'object',
    required: ['v', 'type', 'callId', 'events', 'task', 'outcome'],
    properties: { v: { const: 1 }, type: { const: 'result' }, callId, events: { type: 'integer', minimum: 0 }, task: taskInfo, outcome: taskOutcome },
    additionalProperties: false,
  },
  TaskGetRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/task-get-request.json',
    type: 'object',
    required: ['v', 'taskId'],
    properties: { v: { const: 1 }, taskId: { type: 'string', maxLength: 256 }, outcome: { type: 'boolean' }, deadlineAt },
    additionalProperties: false,
  },
  TaskListRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/task-list-request.json',
    type: 'object',
    required: ['v'],
    properties: { v: { const: 1 }, cursor: { type: 'string', maxLength: 512 }, limit: { type: 'integer', minimum: 1, maximum: 1000 }, deadlineAt },
    additionalProperties: false,
  },
  TaskCancelRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/task-cancel-request.json',
    type: 'object',
    required: ['v', 'taskId'],
    properties: { v: { const: 1 }, taskId: { type: 'string', maxLength: 256 }, reason: { type: 'string', maxLength: 1000 }, deadlineAt },
    additionalProperties: false,
  },
  ProgressEvent: {
    $id: 'https://mcpbus.dev/schemas/v1/progress-event.json',
    type: 'object',
    required: ['v', 'type', 'callId', 'seq', 'progress'],
    properties: {
      v: { const: 1 },
      type: { const: 'progress' },
      callId,
      seq: { type: 'integer', minimum: 1 },
      progress: { type: 'number' },
      total: { type: 'number' },
      message: { type: 'string' },
    },
    additionalProperties: false,
  },
  CancelMessage: {
    $id: 'https://mcpbus.dev/schemas/v1/cancel-message.json',
    type: 'object',
    required: ['v', 'callId'],
    properties: { v: { const: 1 }, callId, reason: { type: 'string', maxLength: 1000 } },
    additionalProperties: false,
  },
  ListItemsRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/list-items-request.json',
    type: 'object',
    required: ['v', 'kind', 'deadlineAt'],
    properties: {
      v: { const: 1 },
      kind: { enum: ['resources', 'resourceTemplates', 'prompts'] },
      deadlineAt,
      servers: { type: 'array', items: serverName, maxItems: 1000 },
    },
    additionalProperties: false,
  },
  ServerRpcRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/server-rpc-request.json',
    type: 'object',
    required: ['v', 'server', 'method', 'params', 'deadlineAt'],
    properties: {
      v: { const: 1 },
      server: serverName,
      method: { enum: ['resources/read', 'prompts/get', 'completion/complete'] },
      params: { type: 'object' },
      byUpstreamName: { type: 'boolean' },
      deadlineAt,
      interaction: { type: 'object', required: ['capabilities'], properties: { capabilities: { type: 'object' } }, additionalProperties: false },
      inputResponses: { type: 'object', maxProperties: 64 },
      requestState: { type: 'string', maxLength: 65536 },
    },
    additionalProperties: false,
  },
  CatalogChanged: {
    $id: 'https://mcpbus.dev/schemas/v1/catalog-changed.json',
    type: 'object',
    required: ['v', 'server', 'kind'],
    properties: { v: { const: 1 }, server: serverName, kind: { enum: ['tools', 'resources', 'prompts'] } },
    additionalProperties: false,
  },
  ResourceSubscribeRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/resource-subscribe-request.json',
    type: 'object',
    required: ['v', 'server', 'uri', 'subscriber', 'deadlineAt'],
    properties: { v: { const: 1 }, server: serverName, uri: resourceUri, subscriber: callId, deadlineAt },
    additionalProperties: false,
  },
  ResourceLeaseRequest: {
    $id: 'https://mcpbus.dev/schemas/v1/resource-lease-request.json',
    type: 'object',
    required: ['v', 'op', 'subscribers', 'deadlineAt'],
    properties: { v: { const: 1 }, op: { enum: ['renew', 'release'] }, subscribers: { type: 'array', items: callId, maxItems: 1000 }, deadlineAt },
    additionalProperties: false,
  },
  ResourceUpdated: {
    $id: 'https://mcpbus.dev/schemas/v1/resource-updated.json',
    type: 'object',
    required: ['v', 'server', 'uri'],
    properties: { v: { const: 1 }, server: serverName, uri: resourceUri },
    additionalProperties: false,
  },
  SessionMessage: {
    $id: 'https://mcpbus.dev/schemas/v1/session-message.json',
    type: 'object',
    required: ['v', 'message'],
    properties: {
      v: { const: 1 },
      message: { type: 'object', required: ['jsonrpc'], properties: { jsonrpc: { const: '2.0' } } },
    },
    additionalProperties: false,
  },
  CallAudit: {
    $id: 'https://mcpbus.dev/schemas/v1/call-audit.json',
    type: 'object',
    required: ['v', 'at', 'callId', 'owner', 'server', 'tool', 'outcome', 'durationMs', 'job'],
    properties: {
      v: { const: 1 },
      at: { type: 'string' },
      callId,
      owner: { type: 'string', maxLength: 128 },
      server: { type: 'string' },
      tool: { type: 'string' },
      outcome: { enum: ['ok', 'tool_error', 'error', 'queued'] },
      errorCode: { type: 'string' },
      durationMs: { type: 'number', minimum: 0 },
      job: { type: 'boolean' },
      arguments: { type: 'object' },
    },
    additionalProperties: false,
  },
  RequestCancelled: {
    $id: 'https://mcpbus.dev/schemas/v1/request-cancelled.json',
    type: 'object',
    required: ['v', 'requestId'],
    properties: { v: { const: 1 }, sessionId: { type: 'string', maxLength: 256 }, requestId: { type: ['string', 'integer'] }, reason: { type: 'string', maxLength: 1000 } },
    additionalProperties: false,
  },
  Reply: {
    $id: 'https://mcpbus.dev/schemas/v1/reply.json',
    oneOf: [
      { type: 'object', required: ['ok', 'result'], properties: { ok: { const: true }, result: {}, events: { type: 'integer', minimum: 0 } } },
      { type: 'object', required: ['ok', 'task'], properties: { ok: { const: true }, task: taskInfo } },
      {
        type: 'object',
        required: ['ok', 'inputRequired'],
        properties: {
          ok: { const: true },
          inputRequired: { type: 'object', required: ['inputRequests', 'requestState'], properties: { inputRequests: { type: 'object' }, requestState: { type: 'string' } } },
          events: { type: 'integer', minimum: 0 },
        },
      },
      { type: 'object', required: ['ok', 'error'], properties: { ok: { const: false }, error: errorBody } },
    ],
  },
} as const);

export type SchemaName = keyof typeof SCHEMAS;
