import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, McpbusError, TERMINAL_TASK_STATUSES, isValidCallId, type TaskInfo, type TaskOutcome } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls } from './bus-calls.js';
import type { Caller } from './caller.js';
import { sendJson, sendRestError } from './http-replies.js';
import { SSE_HEADERS, sseEvent } from './sse.js';

const CALL_PATH = /^\/v1\/calls\/([^/]+)(\/events)?\/?$/;
const KEEPALIVE_MS = 15_000;

/** The call a `/v1/calls/{id}[/events]` path names, or undefined for other paths. */
export function callRouteOf(pathname: string): { id: string; events: boolean } | undefined {
  const match = CALL_PATH.exec(pathname);
  if (match === null) return undefined;
  return { id: match[1] ?? '', events: match[2] !== undefined };
}

/** A call as scripts see it: status, last progress, and the result or error once it has ended. */
function callView(task: TaskInfo, outcome: TaskOutcome | undefined): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: task.taskId,
    status: task.status,
    server: task.server,
    tool: task.tool,
    createdAt: new Date(task.createdAt).toISOString(),
    lastUpdatedAt: new Date(task.lastUpdatedAt).toISOString(),
    progress: task.progress ?? null,
    progressEvents: task.events,
  };
  if (task.statusMessage !== undefined) view['statusMessage'] = task.statusMessage;
  if (TERMINAL_TASK_STATUSES.has(task.status) && outcome !== undefined) {
    if (outcome.ok) view['result'] = outcome.result;
    else view['error'] = { code: outcome.error.code, message: outcome.error.message };
  }
  return view;
}

export interface CallsHttpDeps {
  bus: BusCalls;
  /** Longest an events stream stays open. */
  waitMs: number;
  log: Logger;
}

/**
 * `GET /v1/calls/{id}`: the call's status, last progress and, once ended, its result or error.
 * `GET /v1/calls/{id}/events`: Server-Sent Events — `status` (now), every `progress`, then `end`
 * with the final view — so a script can watch a long call without speaking MCP. Both see only
 * the caller's own calls.
 */
export async function serveCall(route: { id: string; events: boolean }, req: IncomingMessage, res: ServerResponse, caller: Caller, deps: CallsHttpDeps): Promise<void> {
  if (req.method !== 'GET') return sendRestError(res, new McpbusError(ErrorCode.BadRequest, `Use GET ${req.url ?? ''}`));
  if (!isValidCallId(route.id)) return sendRestError(res, new McpbusError(ErrorCode.UnknownTask, `Unknown call: ${route.id}`));
  const first = await deps.bus.getTask(caller, route.id, true);
  if (!route.events) return sendJson(res, 200, callView(first.task, first.outcome));

  res.writeHead(200, SSE_HEADERS);
  const send = (event: string, data: unknown): void => {
    if (!res.destroyed) res.write(sseEvent(JSON.stringify(data), { event }));
  };
  send('status', callView(first.task, undefined));
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  try {
    const end = await deps.bus.followTask(caller, route.id, { signal: abort.signal, waitMs: deps.waitMs, onProgress: (p) => send('progress', p) });
    send('end', callView(end.task, end.outcome));
  } catch (err: unknown) {
    if (!abort.signal.aborted) send('error', err instanceof McpbusError ? { code: err.code, message: err.message } : { code: ErrorCode.Internal, message: 'Internal error' });
    if (!(err instanceof McpbusError)) deps.log.error({ err: String(err) }, 'call events stream failed');
  } finally {
    clearInterval(keepalive);
    res.end();
  }
}
