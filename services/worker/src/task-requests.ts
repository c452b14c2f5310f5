import { encodeJson, publishCallEnd, recordCall, type NatsConnection } from '@mcpbus/bus';
import type { Logger } from 'pino';
import type { TaskRecord, TaskStore } from '@mcpbus/jobs';
import {
  ErrorCode,
  McpbusError,
  TERMINAL_TASK_STATUSES,
  type CancelMessage,
  type ResultEvent,
  type Subjects,
  type TaskCancelRequest,
  type TaskGetRequest,
  type TaskGetResult,
  type TaskInfo,
  type TaskListRequest,
  type TaskListResult,
} from '@mcpbus/protocol';

const DEFAULT_LIST_LIMIT = 100;

/** Each answers for `owner` only: the fingerprint of the key the request carried. */
export interface TaskRequests {
  get(req: TaskGetRequest, owner: string): Promise<TaskGetResult>;
  list(req: TaskListRequest, owner: string): Promise<TaskListResult>;
  cancel(req: TaskCancelRequest, owner: string): Promise<{ task: TaskInfo }>;
}

/** An unknown id and another owner's task look the same: the caller learns nothing of tasks not theirs. */
function unknownTask(taskId: string): McpbusError {
  return new McpbusError(ErrorCode.UnknownTask, `Unknown task: ${taskId} (it does not exist, has expired, or is not yours)`);
}

/**
 * The `tasks.*` bus requests, answered from the task store in Redis, so any worker answers for
 * any task and tasks outlive every mcpbus process. A request sees only the tasks of the key it
 * carries.
 */
export function createTaskRequests(store: TaskStore, nc: NatsConnection, subjects: Subjects, log: Logger): TaskRequests {
  const find = async (taskId: string, owner: string): Promise<TaskRecord> => {
    const record = await store.get(taskId, owner);
    if (record === undefined) throw unknownTask(taskId);
    return record;
  };
  return {
    async get(req, owner) {
      const record = await find(req.taskId, owner);
      const result: TaskGetResult = { task: record.info };
      if (req.outcome === true && record.outcome !== undefined) result.outcome = record.outcome;
      if (record.progressToken !== undefined) result.progressToken = record.progressToken;
      return result;
    },
    async list(req, owner) {
      const { records, nextCursor } = await store.list(owner, req.cursor, req.limit ?? DEFAULT_LIST_LIMIT);
      const result: TaskListResult = { tasks: records.map((r) => r.info) };
      if (nextCursor !== undefined) result.nextCursor = nextCursor;
      return result;
    },
    async cancel(req, owner) {
      const record = await find(req.taskId, owner);
      if (TERMINAL_TASK_STATUSES.has(record.info.status)) throw new McpbusError(ErrorCode.InvalidParams, `Task ${req.taskId} is already ${record.info.status}; it cannot be cancelled`);
      const reason = req.reason ?? 'cancelled by the caller';
      const { changed, record: now } = await store.finish(req.taskId, 'cancelled', { ok: false, error: { code: ErrorCode.Cancelled, message: reason } }, reason);
      if (now === undefined) throw unknownTask(req.taskId);
      if (!changed) throw new McpbusError(ErrorCode.InvalidParams, `Task ${req.taskId} is already ${now.info.status}; it cannot be cancelled`);
      // The runner holding the job (if it has started) stops it; whoever waits hears it ended.
      const cancel: CancelMessage = { v: 1, callId: req.taskId, reason };
      nc.publish(subjects.callCancel(req.taskId), encodeJson(cancel));
      const ended: ResultEvent = { v: 1, type: 'result', callId: req.taskId, events: now.info.events, task: now.info, outcome: now.outcome ?? { ok: false, error: { code: ErrorCode.Cancelled, message: reason } } };
      publishCallEnd(nc, subjects, ended, now.replyTo);
      // The runner, if it holds the job, finds the task ended already: the audit record is made here.
      recordCall(nc, subjects, log, {
        callId: req.taskId,
        owner,
        server: now.info.server,
        tool: now.info.tool,
        outcome: 'error',
        errorCode: ErrorCode.Cancelled,
        durationMs: Math.max(0, Date.now() - now.info.createdAt),
        job: true,
      });
      return { task: now.info };
    },
  };
}
