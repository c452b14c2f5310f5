import { McpbusError, TERMINAL_TASK_STATUSES, jsonRpcCodeOf, type TaskInfo, type TaskOutcome, type TaskStatus } from '@mcpbus/protocol';

/** The 2026-07-28 Tasks extension's name, as clients declare it and servers advertise it. */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

const iso = (ms: number): string => new Date(ms).toISOString();

/** A tool result with `isError` ends a 2025 task as `failed`; in 2026 it is a completed task's result. */
function legacyStatus(info: TaskInfo): TaskStatus {
  return info.status === 'completed' && info.resultIsError === true ? 'failed' : info.status;
}

/** A task as 2025-11-25 clients see it (`tasks/get`, `tasks/list`, CreateTaskResult, status notifications). */
export function legacyTask(info: TaskInfo): Record<string, unknown> {
  const task: Record<string, unknown> = {
    taskId: info.taskId,
    status: legacyStatus(info),
    createdAt: iso(info.createdAt),
    lastUpdatedAt: iso(info.lastUpdatedAt),
    ttl: info.ttlMs,
    pollInterval: info.pollIntervalMs,
  };
  if (info.statusMessage !== undefined) task['statusMessage'] = info.statusMessage;
  return task;
}

/** A JSON-RPC error object for a failed task's error. */
export function rpcErrorOf(outcome: TaskOutcome & { ok: false }): { code: number; message: string } {
  const err = McpbusError.fromBody(outcome.error);
  return { code: jsonRpcCodeOf(err), message: err.message };
}

/**
 * A task as the 2026-07-28 extension shows it: `tasks/get` inlines the result (completed) or
 * the error (failed) once the task has ended.
 */
export function modernTask(info: TaskInfo, outcome?: TaskOutcome): Record<string, unknown> {
  const task: Record<string, unknown> = {
    taskId: info.taskId,
    status: info.status,
    createdAt: iso(info.createdAt),
    lastUpdatedAt: iso(info.lastUpdatedAt),
    ttlMs: info.ttlMs,
    pollIntervalMs: info.pollIntervalMs,
  };
  if (info.statusMessage !== undefined) task['statusMessage'] = info.statusMessage;
  if (TERMINAL_TASK_STATUSES.has(info.status) && outcome !== undefined) {
    if (outcome.ok) task['result'] = { ...outcome.result, resultType: 'complete' };
    else if (info.status === 'failed') task['error'] = rpcErrorOf(outcome);
  }
  return task;
}
