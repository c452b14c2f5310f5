import { ProtocolError, RELATED_TASK_META_KEY, type Server, type ServerContext } from '@modelcontextprotocol/server';
import { ErrorCode, McpbusError, declaresInputCapability, TERMINAL_TASK_STATUSES, type CallLogEvent, type InputMethod, type LoggingLevel } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import * as z from 'zod';
import type { BusCalls } from './bus-calls.js';
import type { Caller } from './caller.js';
import { isJsonObject } from './json-object.js';
import { envelopeCapabilities, modernInputOf } from './client-input.js';
import { envelopeLogLevel, logMessageParams } from './call-logs.js';
import { inputRequiredResult, toProtocolError, type CallRelay, type RelayCallRequest } from './relay-call.js';
import { TASKS_EXTENSION, legacyTask, modernTask, rpcErrorOf } from './task-views.js';

/** JSON-RPC code for a request that needs a client capability the client did not declare. */
const MISSING_CLIENT_CAPABILITY = -32021;

const TaskIdParams = z.looseObject({ taskId: z.string() });
const ListParams = z.looseObject({ cursor: z.string().optional() });

/** Whether a 2026 request declared the Tasks extension in its `_meta` envelope. */
function declaresTasks(ctx: ServerContext): boolean {
  const capabilities = envelopeCapabilities(ctx) as { extensions?: Record<string, unknown> } | undefined;
  return capabilities?.extensions?.[TASKS_EXTENSION] !== undefined;
}

function requireTasksExtension(caller: Caller, ctx: ServerContext): void {
  if (caller.modern && !declaresTasks(ctx))
    throw new ProtocolError(MISSING_CLIENT_CAPABILITY, `Declare the ${TASKS_EXTENSION} extension in your client capabilities to use tasks`, {
      requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
    });
}

export interface ToolCallDeps {
  caller: Caller;
  relay: CallRelay;
  log: Logger;
  /**
   * A connection that can carry requests to the client (a legacy SSE session): the client's
   * declared capabilities, and how to send it one of the upstream's requests.
   */
  push?: {
    capabilities(): Record<string, unknown> | undefined;
    send(method: InputMethod, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<Record<string, unknown>>;
    /** The session's `logging/setLevel`, if it sent one; the upstream's log messages then go to `log`. */
    logLevel(): LoggingLevel | undefined;
    log(message: CallLogEvent): void;
  };
}

/**
 * How the upstream of this call may ask the client for input, if it can answer at all: a 2026
 * client by `input_required` rounds (its capabilities come with every request; its retry brings
 * the answers), a client on a legacy SSE session by requests pushed on that session. And whether
 * the client gets the upstream's log messages: a 2026 request that names a level in its `_meta`
 * gets them on its own response stream, a legacy SSE session that set one on the session.
 */
function interactionOf(ctx: ServerContext, deps: ToolCallDeps): Pick<RelayCallRequest, 'interaction' | 'onInput' | 'onLog' | 'inputResponses' | 'requestState'> {
  if (deps.caller.modern) {
    const { capabilities, ...retry } = modernInputOf(ctx);
    const logLevel = envelopeLogLevel(ctx);
    // Marked even when it can answer nothing: the worker must not hand it what only 2025 clients can take (-32042).
    return {
      interaction: { mode: 'mrtr', capabilities: capabilities ?? {}, ...(logLevel === undefined ? {} : { logLevel }) },
      // Sent as related to this request, so they go on its response stream, ahead of the result.
      ...(logLevel === undefined ? {} : { onLog: (message: CallLogEvent) => void ctx.mcpReq.notify({ method: 'notifications/message', params: logMessageParams(message) }).catch(() => undefined) }),
      ...retry,
    };
  }
  const push = deps.push;
  const capabilities = push?.capabilities() ?? {};
  const logLevel = push?.logLevel();
  if (push === undefined || (!declaresInputCapability(capabilities) && logLevel === undefined)) return {};
  return {
    interaction: { mode: 'push', capabilities, ...(logLevel === undefined ? {} : { logLevel }) },
    onLog: (message) => push.log(message),
    onInput: (event) =>
      push.send(event.method, event.params, Math.max(1, event.deadlineAt - Date.now())).then(
        (result) => ({ result }),
        (err: unknown) => ({ error: { code: err instanceof ProtocolError ? err.code : -32603, message: err instanceof Error ? err.message : String(err) } }),
      ),
  };
}

/**
 * `tools/call` in both eras. A 2025-11-25 client that sends `task` gets a CreateTaskResult at
 * once; a 2026 client that declared the Tasks extension gets a task when the call runs as a job;
 * everyone else waits for the result, with progress when they sent a token.
 */
export async function serveToolCall(raw: unknown, ctx: ServerContext, deps: ToolCallDeps): Promise<Record<string, unknown>> {
  const { caller, relay, log } = deps;
  const params = isJsonObject(raw) ? raw : {};
  const { name, arguments: args, task } = params;
  if (typeof name !== 'string' || (args !== undefined && !isJsonObject(args))) throw new ProtocolError(-32602, 'tools/call needs params.name (a string) and params.arguments (an object, if given)');
  const meta = isJsonObject(params['_meta']) ? params['_meta'] : undefined;
  const token = meta?.['progressToken'];
  const progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
  const request: RelayCallRequest = {
    name,
    arguments: args,
    caller,
    signal: ctx.mcpReq.signal,
    meta,
    requestId: ctx.mcpReq.id,
    ...interactionOf(ctx, deps),
    ...(progressToken === undefined
      ? {}
      : {
          progressToken,
          onProgress: (p: { progress: number; total?: number; message?: string }) =>
            ctx.mcpReq.notify({ method: 'notifications/progress', params: { ...p, progressToken } }).catch(() => undefined),
        }),
  };
  try {
    if (!caller.modern && task !== undefined) {
      const ttl = isJsonObject(task) && typeof task['ttl'] === 'number' ? Math.floor(task['ttl']) : undefined;
      const outcome = await relay.callOrTask(request, ttl === undefined ? {} : { ttlMs: ttl });
      // Only a call refused before it could become a job answers with a result.
      if ('inputRequired' in outcome) throw new ProtocolError(-32602, 'a task cannot ask for input');
      if (!('task' in outcome)) throw new ProtocolError(-32602, textOf(outcome.result));
      return { task: legacyTask(outcome.task) };
    }
    if (caller.modern && declaresTasks(ctx)) {
      const outcome = await relay.callOrTask(request, { onlyIfJob: true });
      if ('inputRequired' in outcome) return inputRequiredResult(outcome);
      return 'task' in outcome ? { resultType: 'task', ...modernTask(outcome.task) } : outcome.result;
    }
    return await relay.call(request);
  } catch (err: unknown) {
    throw toProtocolError(err, log);
  }
}

export interface TaskMethodDeps {
  caller: Caller;
  bus: BusCalls;
  log: Logger;
  /** Longest a `tasks/result` waits. */
  waitMs: number;
}

/**
 * The task methods of both eras. 2025-11-25: `tasks/get`, `tasks/result` (blocks, relaying
 * progress under the original token, then the status notification and the result), `tasks/list`
 * and `tasks/cancel`. 2026-07-28: `tasks/get` (result or error inline once ended), `tasks/cancel`
 * and `tasks/update`. The SDK itself keeps each era's methods to that era.
 */
export function registerTaskMethods(server: Server, deps: TaskMethodDeps): void {
  const { caller, bus, log } = deps;
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err: unknown) {
      throw toProtocolError(err, log);
    }
  };

  server.setRequestHandler('tasks/get', { params: TaskIdParams }, ({ taskId }, ctx) =>
    guarded(async () => {
      requireTasksExtension(caller, ctx);
      const { task, outcome } = await bus.getTask(caller, taskId, true);
      return (caller.modern ? modernTask(task, outcome) : legacyTask(task)) as never;
    }),
  );

  server.setRequestHandler('tasks/cancel', { params: TaskIdParams }, ({ taskId }, ctx) =>
    guarded(async () => {
      requireTasksExtension(caller, ctx);
      if (!caller.modern) return legacyTask(await bus.cancelTask(caller, taskId, 'cancelled by the client (tasks/cancel)')) as never;
      // 2026: cancelling is cooperative and a finished task is simply acknowledged.
      const { task } = await bus.getTask(caller, taskId, false);
      if (!TERMINAL_TASK_STATUSES.has(task.status)) {
        await bus.cancelTask(caller, taskId, 'cancelled by the client (tasks/cancel)').catch((err: unknown) => {
          if (!(err instanceof McpbusError && err.code === ErrorCode.InvalidParams)) throw err;
        });
      }
      return {} as never;
    }),
  );

  server.setRequestHandler('tasks/list', { params: ListParams }, ({ cursor }) =>
    guarded(async () => {
      const { tasks, nextCursor } = await bus.listTasks(caller, cursor);
      return { tasks: tasks.map((t) => legacyTask(t)), ...(nextCursor === undefined ? {} : { nextCursor }) } as never;
    }),
  );

  server.setRequestHandler('tasks/result', { params: TaskIdParams }, ({ taskId }, ctx) =>
    guarded(async () => {
      const { progressToken } = await bus.getTask(caller, taskId, false);
      const notify = (method: string, params: Record<string, unknown>): Promise<void> => ctx.mcpReq.notify({ method, params }).catch(() => undefined);
      const end = await bus.followTask(caller, taskId, {
        signal: ctx.mcpReq.signal,
        waitMs: deps.waitMs,
        ...(progressToken === undefined ? {} : { onProgress: (p) => notify('notifications/progress', { ...p, progressToken }) }),
      });
      await notify('notifications/tasks/status', legacyTask(end.task));
      const related = { [RELATED_TASK_META_KEY]: { taskId } };
      if (!end.outcome.ok) {
        const { code, message } = rpcErrorOf(end.outcome);
        throw new ProtocolError(code, message, related);
      }
      const result = end.outcome.result;
      return { ...result, _meta: { ...(isJsonObject(result['_meta']) ? result['_meta'] : {}), ...related } } as never;
    }),
  );

  server.setRequestHandler('tasks/update', { params: TaskIdParams }, ({ taskId }, ctx) =>
    guarded(async () => {
      requireTasksExtension(caller, ctx);
      // mcpbus tasks never wait for input yet, so no response is outstanding: the extension says
      // to ignore such responses and acknowledge (an unknown task is still an error).
      await bus.getTask(caller, taskId, false);
      return {} as never;
    }),
  );
}

/** The text of a tool result (an `isError` result explaining why a call was refused). */
function textOf(result: Record<string, unknown>): string {
  const content = result['content'];
  const first = Array.isArray(content) ? (content[0] as { text?: unknown } | undefined) : undefined;
  return typeof first?.text === 'string' ? first.text : 'the call was refused';
}
