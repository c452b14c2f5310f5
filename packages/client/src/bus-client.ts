import { jetstream } from '@nats-io/jetstream';
import { connect as natsConnect, headers as natsHeaders, type ConnectionOptions, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  API_KEY_HEADER,
  DEFAULT_SUBJECT_ROOT,
  TERMINAL_TASK_STATUSES,
  createSubjects,
  isValidCallId,
  newCallId,
  type CallToolRequest,
  type CatalogTool,
  type ErrorBody,
  type ResultEvent,
  type Subjects,
  type TaskGetResult,
  type TaskInfo,
  type TaskOutcome,
} from '@mcpbus/protocol';
import { McpbusClientError } from './errors.js';
import type { CallToolResult, McpTool, Progress, ToolSession } from './types.js';

export interface BusConnectOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** The mcpbus API key (sent in the Mcpbus-Api-Key header of every request). */
  apiKey?: string;
  /** `mcpbus_settings.subject_root` of the deployment (default `mcpbus`). */
  subjectRoot?: string;
  /** Connection name shown by the NATS server. */
  name?: string;
  /** More NATS connection options: credentials (`user`/`pass`, `token`, `authenticator`), `tls`, reconnect policy. */
  nats?: Omit<ConnectionOptions, 'servers' | 'name'>;
}

export interface CallOptions {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** Default 60 s; a call that runs as a job is waited for this long too. */
  timeoutMs?: number;
  /** Makes the call retriable and deduplicated per key (see docs/jobs.md). */
  idempotencyKey?: string;
}

export interface SubmitOptions {
  /** The id to fetch the outcome by; also the Nats-Msg-Id, so a resubmission is harmless. Random by default. */
  callId?: string;
  /** Time by which a worker must take the submission (default 10 minutes). */
  deadlineMs?: number;
  idempotencyKey?: string;
}

/** A durable submission: its progress as it happens, and its outcome. */
export interface SubmitHandle {
  readonly callId: string;
  /** Progress updates until the call ends. */
  readonly progress: AsyncIterable<Progress>;
  /** The call's result; rejects with a McpbusClientError when it failed or was cancelled. */
  result(): Promise<CallToolResult>;
}

export interface BusClient extends ToolSession {
  listTools(): Promise<McpTool[]>;
  callTool(name: string, args: Record<string, unknown>, options?: CallOptions): Promise<CallToolResult>;
  submit(name: string, args: Record<string, unknown>, options?: SubmitOptions): Promise<SubmitHandle>;
  /** A task (a job's state) with its outcome once ended. */
  getTask(callId: string): Promise<{ task: TaskInfo; outcome?: TaskOutcome }>;
  cancel(callId: string, reason?: string): Promise<void>;
  close(): Promise<void>;
}

type Reply<T> = { ok: true; result: T; events?: number } | { ok: true; task: TaskInfo } | { ok: false; error: ErrorBody };

const DEFAULT_TIMEOUT_MS = 60_000;
/** A job's task is read this often while its end event is awaited, backing off to the maximum. */
const POLL_MS = 1_000;
const MAX_POLL_MS = 10_000;
/** A task that stays unknown this many reads in a row is gone (expired, never stored, not ours). */
const UNKNOWN_READS = 3;

/** Read when called, past any narrowing of an earlier check. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;

function errorOf(body: ErrorBody): McpbusClientError {
  return body.data === undefined ? new McpbusClientError(body.code, body.message) : new McpbusClientError(body.code, body.message, { data: body.data });
}

function resultOf(outcome: TaskOutcome): CallToolResult {
  if (outcome.ok) return outcome.result as CallToolResult;
  throw errorOf(outcome.error);
}

/** A queue that is also an async iterable (meant for one reader), ended once. */
function progressStream(): { push(p: Progress): void; end(): void; iterable: AsyncIterable<Progress> } {
  const items: Progress[] = [];
  let ended = false;
  const waiting = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of waiting) wake();
    waiting.clear();
  };
  return {
    push(p) {
      items.push(p);
      wakeAll();
    },
    end() {
      ended = true;
      wakeAll();
    },
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const next = items.shift();
          if (next !== undefined) yield next;
          else if (ended) return;
          else await new Promise<void>((resolve) => waiting.add(resolve));
        }
      },
    },
  };
}

/**
 * Connects to mcpbus's bus: no HTTP in between. Calls get the same auth, validation and errors
 * as over HTTP (the key travels in a header).
 */
export async function connect(options: BusConnectOptions): Promise<BusClient> {
  let nc: NatsConnection;
  try {
    nc = await natsConnect({ ...options.nats, servers: options.servers, name: options.name ?? 'mcpbus-client' });
  } catch (err: unknown) {
    throw new McpbusClientError('transport', `cannot reach NATS at ${String(options.servers)}: is mcpbus running?`, { cause: err });
  }
  const subjects: Subjects = createSubjects(options.subjectRoot ?? DEFAULT_SUBJECT_ROOT);
  const keyHeaders = (): MsgHdrs | undefined => {
    if (options.apiKey === undefined) return undefined;
    const h = natsHeaders();
    h.set(API_KEY_HEADER, options.apiKey);
    return h;
  };
  const servers = new Map<string, string>();
  /** Calls and submissions being followed; `close()` stops them all. */
  const following = new Set<{ stop(): void }>();
  let closed = false;

  async function request<T>(subject: string, body: unknown, timeoutMs: number): Promise<Reply<T>> {
    const h = keyHeaders();
    try {
      const msg = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs, ...(h === undefined ? {} : { headers: h }) });
      return msg.json<Reply<T>>();
    } catch (err: unknown) {
      const cause = err instanceof Error && err.cause instanceof Error ? ` ${err.cause.message}` : '';
      const text = err instanceof Error ? `${err.message}${cause}` : String(err);
      if (/no responders/i.test(text)) throw new McpbusClientError('no_workers', 'no mcpbus worker answers on this subject root: is mcpbus running, with the same subject_root?', { cause: err });
      if (/timeout/i.test(text)) throw new McpbusClientError('timeout', `no reply within ${timeoutMs} ms`, { cause: err });
      throw new McpbusClientError('transport', `bus request failed: ${text}`, { cause: err });
    }
  }
  async function ok<T>(subject: string, body: unknown, timeoutMs: number): Promise<T> {
    const reply = await request<T>(subject, body, timeoutMs);
    if (!reply.ok) throw errorOf(reply.error);
    if (!('result' in reply)) throw new McpbusClientError('internal', 'unexpected reply');
    return reply.result;
  }

  async function listTools(): Promise<McpTool[]> {
    const { tools } = await ok<{ tools: CatalogTool[] }>(subjects.toolsList(), { v: 1, deadlineAt: Date.now() + 10_000 }, 11_000);
    servers.clear();
    for (const t of tools) servers.set(t.name, t.server);
    return tools.map((t) => t.tool as McpTool);
  }
  async function serverOf(name: string): Promise<string> {
    if (!servers.has(name)) await listTools();
    const server = servers.get(name);
    if (server === undefined) throw new McpbusClientError('unknown_tool', `Unknown tool: ${name}`);
    return server;
  }
  const getTask = (callId: string): Promise<TaskGetResult> => ok<TaskGetResult>(subjects.tasksGet(), { v: 1, taskId: callId, outcome: true, deadlineAt: Date.now() + 10_000 }, 10_000);

  /**
   * Follows a call's events until its end (a job's ResultEvent). Once `poll()` is called (the call
   * is a job) the task is also read every second, in case the end event is missed.
   */
  function follow(callId: string, onProgress: ((p: Progress) => void) | undefined): { sub: Subscription; ended: Promise<TaskOutcome>; seen(): number; poll(): void; stop(): void } {
    let progressSeen = 0;
    let finish: (o: TaskOutcome) => void = () => undefined;
    const ended = new Promise<TaskOutcome>((resolve) => (finish = resolve));
    const sub = nc.subscribe(subjects.callEvents(callId), {
      callback: (_err, msg) => {
        try {
          const event = msg.json<{ type: string; outcome?: ResultEvent['outcome'] } & Progress>();
          if (event.type === 'result' && event.outcome !== undefined) finish(event.outcome);
          else if (event.type === 'progress') {
            progressSeen += 1;
            onProgress?.({ progress: event.progress, ...(event.total === undefined ? {} : { total: event.total }), ...(event.message === undefined ? {} : { message: event.message }) });
          }
        } catch {
          // a malformed event: the end still comes by polling
        }
      },
    });
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let delay = POLL_MS;
    let unknown = 0;
    const tick = async (): Promise<void> => {
      if (stopped || closed) return;
      const now = await getTask(callId).catch((err: unknown) => {
        if (err instanceof McpbusClientError && err.code === 'unknown_task') unknown += 1;
        return undefined;
      });
      if (now !== undefined) unknown = 0;
      if (now !== undefined && TERMINAL_TASK_STATUSES.has(now.task.status) && now.outcome !== undefined) finish(now.outcome);
      else if (unknown >= UNKNOWN_READS) finish({ ok: false, error: { code: 'unknown_task', message: `task ${callId} is gone (expired, refused before it was stored, or not yours); its outcome is unknown` } });
      else if (!stopped && !closed) {
        delay = Math.min(MAX_POLL_MS, delay * 1.5);
        timer = setTimeout(() => void tick(), delay);
        timer.unref();
      }
    };
    const handle = {
      sub,
      ended,
      seen: () => progressSeen,
      poll() {
        if (timer === undefined && !stopped) {
          timer = setTimeout(() => void tick(), POLL_MS);
          timer.unref();
        }
      },
      stop() {
        stopped = true;
        clearTimeout(timer);
        sub.unsubscribe();
        following.delete(handle);
      },
    };
    following.add(handle);
    return handle;
  }

  const client: BusClient = {
    listTools,
    async callTool(name, args, callOptions = {}) {
      const server = await serverOf(name);
      const timeoutMs = callOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const callId = newCallId();
      const body: CallToolRequest = { v: 1, callId, server, name, arguments: args, progress: callOptions.onProgress !== undefined, deadlineAt: Date.now() + timeoutMs };
      if (callOptions.idempotencyKey !== undefined) body.idempotencyKey = callOptions.idempotencyKey;
      if (callOptions.signal?.aborted === true) throw new McpbusClientError('cancelled', 'the call was cancelled before it started');
      // Subscribed first: a call that runs as a job announces its end (and progress) there.
      const watch = follow(callId, callOptions.onProgress);
      // An inline call hears the broadcast; a call that became a job is cancelled as a task.
      let jobId: string | undefined;
      const onAbort = (): void => {
        nc.publish(subjects.callCancel(callId), JSON.stringify({ v: 1, callId, reason: 'cancelled by the caller' }));
        if (jobId !== undefined) void client.cancel(jobId, 'cancelled by the caller').catch(() => undefined);
      };
      callOptions.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await nc.flush();
        let reply: Reply<CallToolResult>;
        try {
          reply = await request<CallToolResult>(subjects.toolsCall(server), body, timeoutMs + 1_000);
        } catch (err: unknown) {
          // The worker may still be running it: tell it to stop.
          if (err instanceof McpbusClientError && err.code === 'timeout') nc.publish(subjects.callCancel(callId), JSON.stringify({ v: 1, callId, reason: 'the caller gave up waiting' }));
          throw err;
        }
        if (!reply.ok) throw errorOf(reply.error);
        if ('result' in reply) {
          // The reply says how many progress updates came before it: let the last ones catch up.
          const expected = reply.events ?? 0;
          for (const until = Date.now() + 1_000; watch.seen() < expected && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 5));
          return reply.result;
        }
        const taskId = reply.task.taskId;
        jobId = taskId;
        // Aborted while the request was in flight: the job exists now, so cancel it.
        if (isAborted(callOptions.signal)) onAbort();
        // An idempotency key names the task: follow the first call's job.
        const job = taskId === callId ? watch : follow(taskId, callOptions.onProgress);
        if (job !== watch) watch.stop();
        job.poll();
        return await waitFor(job, timeoutMs, callOptions.signal);
      } finally {
        callOptions.signal?.removeEventListener('abort', onAbort);
        watch.stop();
      }
    },
    async submit(name, args, submitOptions = {}) {
      const callId = submitOptions.callId ?? newCallId();
      if (!isValidCallId(callId)) throw new McpbusClientError('invalid_params', `a call id is 1 to 64 of A-Z a-z 0-9 _ -, not "${callId}"`);
      const server = await serverOf(name);
      const body: CallToolRequest = { v: 1, callId, server, name, arguments: args, progress: false, deadlineAt: Date.now() + (submitOptions.deadlineMs ?? 600_000) };
      if (submitOptions.idempotencyKey !== undefined) body.idempotencyKey = submitOptions.idempotencyKey;
      const stream = progressStream();
      const watch = follow(callId, (p) => stream.push(p));
      watch.poll();
      const outcome = watch.ended.finally(() => {
        stream.end();
        watch.stop();
      });
      try {
        await nc.flush();
        const h = keyHeaders();
        await jetstream(nc).publish(subjects.submit(server), JSON.stringify(body), { msgID: callId, ...(h === undefined ? {} : { headers: h }) });
      } catch (err: unknown) {
        watch.stop();
        stream.end();
        const text = err instanceof Error ? err.message : String(err);
        throw new McpbusClientError(/maximum messages/i.test(text) ? 'overloaded' : 'transport', `the submission was refused: ${text}`, { cause: err });
      }
      return { callId, progress: stream.iterable, result: () => outcome.then(resultOf) };
    },
    async getTask(callId) {
      const { task, outcome } = await getTask(callId);
      return outcome === undefined ? { task } : { task, outcome };
    },
    async cancel(callId, reason) {
      const deadlineAt = Date.now() + 10_000;
      await ok(subjects.tasksCancel(), reason === undefined ? { v: 1, taskId: callId, deadlineAt } : { v: 1, taskId: callId, reason, deadlineAt }, 10_000);
    },
    async close() {
      closed = true;
      for (const f of [...following]) f.stop();
      await nc.drain();
    },
  };

  async function waitFor(watch: { ended: Promise<TaskOutcome>; stop(): void }, timeoutMs: number, signal: AbortSignal | undefined): Promise<CallToolResult> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new McpbusClientError('timeout', `the call did not finish within ${timeoutMs} ms`)), timeoutMs)));
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new McpbusClientError('cancelled', 'the call was cancelled'));
      if (isAborted(signal)) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return resultOf(await Promise.race([watch.ended, timeout, aborted]));
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      watch.stop();
    }
  }

  return client;
}
