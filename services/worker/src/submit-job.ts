import type { McpbusConfig, ServerConfig } from '@mcpbus/config';
import { enqueueCall, type CallQueue, type TaskStore } from '@mcpbus/jobs';
import { ErrorCode, McpbusError, idempotentCallId, messageOf, type CallToolRequest, type CatalogTool, type TaskInfo } from '@mcpbus/protocol';

/** The shortest TTL a task gets, whatever the client asks: it must outlive a poll or two. */
const MIN_TASK_TTL_MS = 10_000;
/** How long a job may wait in the queue before its task may be forgotten (on top of its run time). */
const QUEUE_WAIT_ALLOWANCE_MS = 3_600_000;

export interface JobSubmitterDeps {
  config: McpbusConfig;
  store: TaskStore;
  queue: CallQueue;
  /** Whether Redis answers right now. */
  ready(): boolean;
}

/** Queues a validated call as a job of `owner` (the fingerprint of the key the request carried). */
export type JobSubmitter = (req: CallToolRequest, owner: string, server: ServerConfig, entry: CatalogTool, args: Record<string, unknown>) => Promise<TaskInfo>;

/**
 * Whether a call may run again after a runner died mid-call or a transient failure: the config
 * decides when it says (the operator's `idempotent: false` wins over everything), then a call
 * with an idempotency key may (its caller said so), then the tool's own read-only or idempotent
 * annotation.
 */
export function isRetriable(server: ServerConfig, entry: CatalogTool, idempotencyKey: string | undefined): boolean {
  const configured = server.tools[entry.upstreamName]?.idempotent;
  if (configured !== undefined) return configured;
  if (idempotencyKey !== undefined) return true;
  const annotations = entry.tool['annotations'] as { readOnlyHint?: unknown; idempotentHint?: unknown } | undefined;
  return annotations?.readOnlyHint === true || annotations?.idempotentHint === true;
}

/** Whether a call runs as a job without being asked to: `execution: job` on the tool or its server. */
export function runsAsJob(server: ServerConfig, entry: CatalogTool): boolean {
  return (server.tools[entry.upstreamName]?.execution ?? server.execution) === 'job';
}

/**
 * Turns a validated call into a task record and a BullMQ job. A call whose idempotency key was
 * seen before gets the first call's task back and starts nothing.
 */
export function createJobSubmitter(deps: JobSubmitterDeps): JobSubmitter {
  const settings = deps.config.settings;
  return async (req, owner, server, entry, args) => {
    if (!deps.ready()) throw new McpbusError(ErrorCode.QueueUnavailable, 'The job queue (Redis) cannot be reached, so long-running calls cannot start; try again shortly');
    const ttlMs = Math.min(settings.taskMaxTtlMs, Math.max(MIN_TASK_TTL_MS, req.task?.ttlMs ?? settings.taskTtlMs));
    const retriable = isRetriable(server, entry, req.idempotencyKey);
    const attempts = retriable ? settings.jobMaxAttempts : 1;
    // A key names the call for its owner: the same key again finds the first call's task.
    const taskId = req.idempotencyKey === undefined ? req.callId : idempotentCallId(owner, server.name, req.name, req.idempotencyKey);
    const task = {
      taskId,
      owner,
      server: server.name,
      tool: req.name,
      ttlMs,
      holdMs: server.jobTimeoutMs * attempts + settings.jobBackoffMs * 2 ** Math.min(attempts, 20) + QUEUE_WAIT_ALLOWANCE_MS,
      pollIntervalMs: settings.taskPollIntervalMs,
    };
    const now = Date.now();
    let created: boolean;
    try {
      created = await deps.store.create(req.progressToken === undefined ? task : { ...task, progressToken: req.progressToken }, now);
    } catch (err: unknown) {
      throw new McpbusError(ErrorCode.QueueUnavailable, `The task store (Redis) failed: ${messageOf(err)}`, { cause: err });
    }
    if (!created) {
      const record = await deps.store.get(taskId, owner);
      if (record === undefined) throw new McpbusError(ErrorCode.UnknownTask, `Task ${taskId} expired as it was looked up; try again`);
      return record.info;
    }
    const job = { v: 1 as const, callId: taskId, server: server.name, tool: req.name, upstreamName: entry.upstreamName, arguments: args, byUpstreamName: req.byUpstreamName === true, retriable, timeoutMs: server.jobTimeoutMs };
    try {
      // A keyed task's BullMQ job gets an id of its own: the job of an earlier, expired task with
      // the same key may still be retained, and adding under its id would silently do nothing.
      await enqueueCall(deps.queue, job, { jobId: req.idempotencyKey === undefined ? taskId : `${taskId}-${now}`, attempts, backoffMs: settings.jobBackoffMs, retentionMs: ttlMs });
    } catch (err: unknown) {
      // No job, no task: the caller may simply try again (with the same key, too).
      await deps.store.remove(taskId, owner).catch(() => undefined);
      throw new McpbusError(ErrorCode.QueueUnavailable, `The job queue (Redis) failed: ${messageOf(err)}`, { cause: err });
    }
    return { taskId, status: 'working', createdAt: now, lastUpdatedAt: now, ttlMs, pollIntervalMs: task.pollIntervalMs, server: task.server, tool: task.tool, events: 0 };
  };
}
