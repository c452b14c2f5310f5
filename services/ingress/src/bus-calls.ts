import { apiKeyHeaders, busRequest, checkBody, encodeJson, parseJsonBody, type NatsConnection } from '@mcpbus/bus';
import type { McpbusConfig } from '@mcpbus/config';
import {
  ErrorCode,
  McpbusError,
  TERMINAL_TASK_STATUSES,
  createSubjects,
  newCallId,
  type CallInteraction,
  type CallLogEvent,
  type CallStreamPaused,
  type CallToolRequest,
  type CancelMessage,
  type InputAnswer,
  type InputRequestEvent,
  type InputRequired,
  type ItemKind,
  type ListItemsRequest,
  type ListItemsResult,
  type ListToolsRequest,
  type ListToolsResult,
  type ServerRpcMethod,
  type ServerRpcRequest,
  type TaskCancelRequest,
  type TaskGetRequest,
  type TaskGetResult,
  type TaskInfo,
  type TaskListRequest,
  type TaskListResult,
  type TaskOutcome,
} from '@mcpbus/protocol';
import { watchCall, type CallWatch, type ProgressSink } from './call-watch.js';
import type { Credential } from './caller.js';
import { observeBus } from './telemetry.js';

export type { ProgressUpdate } from '@mcpbus/protocol';

/** Extra time the ingress waits beyond a call's deadline for the worker's own timeout reply. */
const REPLY_GRACE_MS = 1_000;
/** Deadline of a task request (get, list, cancel): they read Redis and nothing else. */
const TASK_REQUEST_MS = 5_000;
/** While waiting for a job's end event, its task is also read this often, in case the event was lost. */
const JOB_POLL_MS = 2_000;

export interface CallOptions {
  /** The call's id (a new one unless given). */
  callId?: string;
  server: string;
  name: string;
  /** `name` is the upstream tool name (single-server routes). */
  byUpstreamName?: boolean;
  arguments: Record<string, unknown> | undefined;
  timeoutMs: number;
  /** Who calls (the key goes with the request); jobs and tasks are theirs alone. */
  who: Credential;
  /** Receives every progress update in order, before the call resolves. */
  onProgress?: ProgressSink;
  /** The client's progress token, kept with a job for later `tasks/result` watchers. */
  progressToken?: string | number;
  idempotencyKey?: string;
  signal?: AbortSignal;
  /**
   * If the call runs as a job: does an abort cancel it (a 2026 client's closed stream means
   * cancel), or does the job go on and keep its result for later (a dropped 2025 connection)?
   */
  abortCancelsJob: boolean;
  /** The longest a caller waits for a job's end. */
  jobWaitMs: number;
  /**
   * Set when the call will run as a job: the worker answers as soon as it is queued, so its
   * answer is awaited this long rather than the call's whole timeout (a worker that died while
   * queueing it fails the call in seconds).
   */
  queueTimeoutMs?: number;
  /** The caller's own credentials for this server. */
  upstreamHeaders?: Record<string, string>;
  /**
   * Told when the call became a job the caller waits for; the returned function is called when
   * the wait ends (whether the client went away).
   */
  onQueued?: (taskId: string) => (clientGone: boolean) => void;
  /**
   * The client takes a task in place of a result: always (`onlyIfJob` unset: it asked for one),
   * or when the call runs as a job anyway (a 2026 client that declared the Tasks extension).
   */
  task?: { ttlMs?: number; onlyIfJob?: boolean };
  /** The client can answer the upstream's requests for input (see CallInteraction). */
  interaction?: CallInteraction;
  /**
   * Push mode: relays one of the upstream's requests to the client. A promise of the client's
   * answer is sent back to the worker from here; `undefined` means the answer reaches the
   * worker another way (a 2025 client POSTs it to any replica).
   */
  onInput?: (request: InputRequestEvent) => Promise<{ result: Record<string, unknown> } | { error: { code: number; message: string } }> | undefined;
  /** With `interaction.logLevel` (either mode): the upstream's log messages during the call, before its result. */
  onLog?: (message: CallLogEvent) => void;
  /** Push mode: the upstream paused the call's stream (SEP-1699); the client's can be paused too. */
  onPause?: () => void;
  /** A 2026 client's retry: its answers, and the requestState it was given. */
  inputResponses?: Record<string, unknown>;
  requestState?: string;
}

/** A call's result, the task it became when the client takes tasks, or the input its upstream asks the client for (mrtr). */
export type CallResult = { result: Record<string, unknown> } | { task: TaskInfo } | { inputRequired: InputRequired };

/** A task and, once it has ended, how. */
export interface TaskEnd {
  task: TaskInfo;
  outcome: TaskOutcome;
}

export interface FollowOptions {
  onProgress?: ProgressSink;
  signal?: AbortSignal;
  waitMs: number;
}

export interface BusCalls {
  listTools(who: Credential, servers?: readonly string[]): Promise<ListToolsResult>;
  listItems(who: Credential, kind: ItemKind, servers?: readonly string[]): Promise<ListItemsResult>;
  serverRpc(who: Credential, server: string, method: ServerRpcMethod, params: Record<string, unknown>, byUpstreamName: boolean, timeoutMs: number, input?: Pick<ServerRpcRequest, 'interaction' | 'inputResponses' | 'requestState'>): Promise<Record<string, unknown>>;
  /**
   * A call's result, whether a worker ran it inline or it became a job; or, when the options
   * say the client takes tasks, the task it became.
   */
  callTool(options: CallOptions): Promise<CallResult>;
  getTask(who: Credential, taskId: string, withOutcome: boolean): Promise<TaskGetResult>;
  listTasks(who: Credential, cursor: string | undefined): Promise<TaskListResult>;
  cancelTask(who: Credential, taskId: string, reason: string): Promise<TaskInfo>;
  /** Waits for a task to end, relaying the progress it makes meanwhile. */
  followTask(who: Credential, taskId: string, options: FollowOptions): Promise<TaskEnd>;
  pingWorkers(timeoutMs: number): Promise<boolean>;
  /** A client's answer to an upstream's request for input, for the worker holding call `callId`. */
  answerInput(who: Credential, callId: string, key: string, answer: { result: Record<string, unknown> } | { error: { code: number; message: string } }): void;
}

const isTerminal = (task: TaskInfo): boolean => TERMINAL_TASK_STATUSES.has(task.status);
/** Read at call time, past any narrowing of an earlier check. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

function resultOf(outcome: TaskOutcome): Record<string, unknown> {
  if (outcome.ok) return outcome.result;
  throw McpbusError.fromBody(outcome.error);
}

/**
 * The ingress side of the bus: turns list, call and task requests into NATS requests, relays
 * a call's progress events in sequence order, follows jobs to their end, and broadcasts a
 * cancel when the caller goes away.
 */
export function createBusCalls(nc: NatsConnection, config: McpbusConfig): BusCalls {
  const subjects = createSubjects(config.settings.subjectRoot);

  /**
   * A request carrying the caller's key (the worker checks it and takes the owner from it) and
   * the active trace context; `op` names it in the round-trip metric.
   */
  const ask = async <T>(who: Credential, subject: string, body: unknown, options: { timeoutMs: number; what: string; op: string }) => {
    const headers = apiKeyHeaders(who.key);
    const { op, ...request } = options;
    return observeBus(op, () => busRequest<T>(nc, subject, body, headers === undefined ? request : { ...request, headers }));
  };
  const taskRequest = async <T>(who: Credential, subject: string, body: TaskGetRequest | TaskListRequest | TaskCancelRequest, what: string): Promise<T> =>
    (await ask<T>(who, subject, { ...body, deadlineAt: Date.now() + TASK_REQUEST_MS }, { timeoutMs: TASK_REQUEST_MS, what, op: what })).result;
  const getTask = (who: Credential, taskId: string, withOutcome: boolean): Promise<TaskGetResult> =>
    taskRequest<TaskGetResult>(who, subjects.tasksGet(), { v: 1, taskId, outcome: withOutcome }, 'tasks/get');
  const cancelTask = async (who: Credential, taskId: string, reason: string): Promise<TaskInfo> =>
    (await taskRequest<{ task: TaskInfo }>(who, subjects.tasksCancel(), { v: 1, taskId, reason }, 'tasks/cancel')).task;

  /**
   * Waits on `watch` for the job's end. The task is read at once (the end may have come before
   * the watch, and a watch opened late skips the progress it missed) and then every few seconds
   * (an end event may be lost: core NATS is at-most-once). A task that no longer exists ends the
   * wait. The caller's abort either cancels the job or just stops the wait.
   */
  async function untilEnded(watch: CallWatch, who: Credential, taskId: string, options: { signal?: AbortSignal | undefined; waitMs: number; abortCancels: boolean; late: boolean }): Promise<TaskEnd> {
    const timers = new Set<NodeJS.Timeout>();
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => timers.add(setTimeout(resolve, ms)));
    let stopped = false;
    let onAbort: (() => void) | undefined;
    const poll = async (): Promise<TaskEnd> => {
      for (let first = true; !stopped; first = false) {
        let now: TaskGetResult | undefined;
        try {
          now = await getTask(who, taskId, true);
        } catch (err: unknown) {
          if (err instanceof McpbusError && err.code === ErrorCode.UnknownTask) throw new McpbusError(ErrorCode.UnknownTask, `Task ${taskId} is gone (it expired before it ended); its outcome is unknown`);
          // Anything else (a worker restarting, Redis away for a moment) is tried again.
        }
        if (stopped) break;
        if (first && options.late && now !== undefined) watch.skipTo(now.task.events);
        if (now !== undefined && isTerminal(now.task) && now.outcome !== undefined) return { task: now.task, outcome: now.outcome };
        await sleep(JOB_POLL_MS);
      }
      return new Promise<never>(() => undefined);
    };
    const deadline = sleep(options.waitMs).then(() => {
      throw new McpbusError(ErrorCode.Timeout, `task ${taskId} did not finish within ${options.waitMs} ms; it may still be running (tasks/get ${taskId})`);
    });
    const aborted = new Promise<never>((_, reject) => {
      onAbort = (): void => {
        if (options.abortCancels) void cancelTask(who, taskId, 'the client cancelled the request').catch(() => undefined);
        reject(new McpbusError(ErrorCode.Cancelled, 'the client cancelled the request', { data: { byClient: true } }));
      };
      if (options.signal?.aborted === true) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const end = await Promise.race([watch.ended.then((e) => ({ task: e.task, outcome: e.outcome, events: e.events })), poll(), deadline, aborted]);
      await watch.settle('events' in end ? end.events : end.task.events);
      return { task: end.task, outcome: end.outcome };
    } finally {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** How long the worker's answer is awaited: the call's timeout, or only its queueing when it becomes a job. */
  const replyWindowMs = (options: CallOptions): number => Math.min(options.timeoutMs, options.queueTimeoutMs ?? Number.POSITIVE_INFINITY);

  function callBody(options: CallOptions): CallToolRequest {
    const body: CallToolRequest = {
      v: 1,
      callId: options.callId ?? newCallId(),
      server: options.server,
      name: options.name,
      progress: options.onProgress !== undefined,
      deadlineAt: Date.now() + replyWindowMs(options),
    };
    if (options.arguments !== undefined) body.arguments = options.arguments;
    if (options.byUpstreamName === true) body.byUpstreamName = true;
    if (options.progressToken !== undefined) body.progressToken = options.progressToken;
    if (options.idempotencyKey !== undefined) body.idempotencyKey = options.idempotencyKey;
    if (options.task !== undefined) body.task = options.task;
    if (options.upstreamHeaders !== undefined) body.upstreamHeaders = options.upstreamHeaders;
    if (options.interaction !== undefined) body.interaction = options.interaction;
    if (options.inputResponses !== undefined) body.inputResponses = options.inputResponses;
    if (options.requestState !== undefined) body.requestState = options.requestState;
    return body;
  }

  function answerInput(who: Credential, callId: string, key: string, answer: { result: Record<string, unknown> } | { error: { code: number; message: string } }): void {
    const headers = apiKeyHeaders(who.key);
    const body: InputAnswer = { v: 1, callId, key, ...answer };
    nc.publish(subjects.callAnswers(callId), encodeJson(body), headers === undefined ? undefined : { headers });
  }

  async function callTool(options: CallOptions): Promise<CallResult> {
    const body = callBody(options);
    const { callId } = body;
    // Checked before anything is subscribed, so a refused call leaves nothing behind.
    if (options.signal?.aborted === true) throw new McpbusError(ErrorCode.Cancelled, 'the client cancelled the request');
    let watch = options.onProgress === undefined ? undefined : watchCall(nc, subjects.callEvents(callId), options.onProgress);
    // Push mode brings the upstream's requests, log messages and pauses; a 2026 caller (mrtr) that
    // named a log level, its log messages only.
    const pushes = options.interaction?.mode === 'push' && (options.onInput !== undefined || options.onLog !== undefined || options.onPause !== undefined);
    const logs = options.interaction?.logLevel !== undefined && options.onLog !== undefined;
    const inputs = pushes || logs ? relayInput(options.who, callId, options) : undefined;
    let queued = false;
    const onAbort = (): void => {
      if (queued) return; // a job: untilEnded decides what an abort means
      const cancel: CancelMessage = { v: 1, callId, reason: 'the client cancelled the request' };
      try {
        nc.publish(subjects.callCancel(callId), encodeJson(cancel));
      } catch {
        // The connection is draining or closed (this ingress is stopping): the worker's own
        // deadline ends the call.
      }
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = (await ask<Record<string, unknown>>(options.who, subjects.toolsCall(options.server), body, {
        timeoutMs: replyWindowMs(options) + REPLY_GRACE_MS,
        what: `the call of ${options.name}`,
        op: 'tools/call',
      })) as { result: Record<string, unknown>; events?: number } | { task: TaskInfo } | { inputRequired: InputRequired; events?: number };
      if ('inputRequired' in reply) {
        await watch?.settle(reply.events ?? 0);
        return { inputRequired: reply.inputRequired };
      }
      if ('task' in reply && options.task !== undefined) return { task: reply.task };
      if ('task' in reply) {
        queued = true;
        const { taskId } = reply.task;
        // An idempotency key names the task: a repeated call follows the first call's job, whose
        // events come on that task's subject, and the progress it already made is history.
        const late = watch === undefined || taskId !== callId;
        if (taskId !== callId) watch?.close();
        if (late) watch = watchCall(nc, subjects.callEvents(taskId), options.onProgress);
        const release = options.onQueued?.(taskId);
        try {
          const end = await untilEnded(watch as CallWatch, options.who, taskId, { signal: options.signal, waitMs: options.jobWaitMs, abortCancels: options.abortCancelsJob, late });
          return { result: resultOf(end.outcome) };
        } finally {
          release?.(isAborted(options.signal));
        }
      }
      await watch?.settle(reply.events ?? 0);
      return { result: reply.result };
    } catch (err: unknown) {
      if (err instanceof McpbusError && err.code === ErrorCode.Timeout && !queued) {
        onAbort();
        if (options.queueTimeoutMs !== undefined) {
          // The worker took the call and went quiet (it may have died queueing it). A job it did
          // queue under the call's id is cancelled, so nothing runs that its caller gave up on.
          void cancelTask(options.who, callId, 'the gateway stopped waiting for the call to be queued').catch(() => undefined);
          throw new McpbusError(ErrorCode.Timeout, `the call of ${options.name} runs as a job, and no worker confirmed it queued within ${replyWindowMs(options)} ms (a worker may have stopped); if it was queued it has been cancelled, and tasks/list shows what became of it`, { cause: err });
        }
      }
      throw err;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      watch?.close();
      inputs?.unsubscribe();
    }
  }

  /**
   * Push mode: the upstream's requests for input arrive on the call's input subject; each goes to
   * the client, and an answer the client gives here goes back to the worker with the caller's key.
   * The upstream's log messages come there too, in both modes.
   */
  function relayInput(who: Credential, callId: string, handlers: Pick<CallOptions, 'onInput' | 'onLog' | 'onPause'>) {
    return nc.subscribe(subjects.callInput(callId), {
      callback: (err, msg) => {
        if (err !== null) return;
        let request: InputRequestEvent;
        try {
          // Three kinds of message share the subject: a log message has a level, a pause says so,
          // and a request has a method.
          const body = parseJsonBody(msg.data, 'call input') as { level?: unknown; paused?: unknown };
          if (body.level !== undefined) {
            handlers.onLog?.(checkBody<CallLogEvent>(body, 'CallLogEvent'));
            return;
          }
          if (body.paused !== undefined) {
            checkBody<CallStreamPaused>(body, 'CallStreamPaused');
            handlers.onPause?.();
            return;
          }
          request = checkBody<InputRequestEvent>(body, 'InputRequestEvent');
        } catch {
          return;
        }
        handlers.onInput?.(request)?.then(
          (answer) => answerInput(who, callId, request.key, answer),
          () => undefined,
        );
      },
    });
  }

  return {
    async listTools(who, servers) {
      const timeoutMs = config.settings.listDeadlineMs + REPLY_GRACE_MS;
      const body: ListToolsRequest = { v: 1, deadlineAt: Date.now() + config.settings.listDeadlineMs };
      if (servers !== undefined) body.servers = [...servers];
      const reply = await ask<ListToolsResult>(who, subjects.toolsList(), body, { timeoutMs, what: 'tools/list', op: 'tools/list' });
      return reply.result;
    },
    callTool,
    getTask,
    async listTasks(who, cursor) {
      return taskRequest<TaskListResult>(who, subjects.tasksList(), cursor === undefined ? { v: 1 } : { v: 1, cursor }, 'tasks/list');
    },
    cancelTask,
    async followTask(who, taskId, options) {
      const watch = watchCall(nc, subjects.callEvents(taskId), options.onProgress);
      try {
        // Subscribed before the first read, so an end between the two is not missed.
        await nc.flush();
        return await untilEnded(watch, who, taskId, { signal: options.signal, waitMs: options.waitMs, abortCancels: false, late: true });
      } finally {
        watch.close();
      }
    },
    async listItems(who, kind, servers) {
      const body: ListItemsRequest = { v: 1, kind, deadlineAt: Date.now() + config.settings.listDeadlineMs };
      if (servers !== undefined) body.servers = [...servers];
      const reply = await ask<ListItemsResult>(who, subjects.itemsList(), body, { timeoutMs: config.settings.listDeadlineMs + REPLY_GRACE_MS, what: `the ${kind} list`, op: 'items/list' });
      return reply.result;
    },
    async serverRpc(who, server, method, params, byUpstreamName, timeoutMs, input = {}) {
      const body: ServerRpcRequest = { v: 1, server, method, params, deadlineAt: Date.now() + timeoutMs, ...input };
      if (byUpstreamName) body.byUpstreamName = true;
      const reply = await ask<Record<string, unknown>>(who, subjects.serverRpc(server), body, { timeoutMs: timeoutMs + REPLY_GRACE_MS, what: method, op: method });
      return reply.result;
    },
    answerInput,
    async pingWorkers(timeoutMs) {
      try {
        await busRequest(nc, subjects.workersPing(), { v: 1 }, { timeoutMs, what: 'worker ping' });
        return true;
      } catch {
        return false;
      }
    },
  };
}
