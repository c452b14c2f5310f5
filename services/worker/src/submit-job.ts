import type { McpbusConfig, ServerConfig } from '@mcpbus/config';
import { enqueueCall, type CallQueue, type TaskStore } from '@mcpbus/jobs';
import { ErrorCode, McpbusError, messageOf, type CallToolRequest, type CatalogTool, type TaskInfo } from '@mcpbus/protocol';

/** Callers that name no owner (there is no key configured) share this one. */
export const ANONYMOUS_OWNER = 'anonymous';
/** The shortest TTL a task gets, whatever the client asks: it must outlive a poll or two. */
const MIN_TASK_TTL_MS = 10_000;

export interface JobSubmitterDeps {
  config: McpbusConfig;
  store: TaskStore;
  queue: CallQueue;
  /** Whether Redis answers right now. */
  ready(): boolean;
}

export type JobSubmitter = (req: CallToolRequest, server: ServerConfig, entry: CatalogTool, args: Record<string, unknown>) => Promise<TaskInfo>;

/**
 * Whether a call may run again after a runner died mid-call or a transient failure: the config
 * decides when it says, otherwise the tool's own read-only or idempotent annotation, and a call
 * with an idempotency key always may (its caller said so).
 */
export function isRetriable(server: ServerConfig, entry: CatalogTool, idempotencyKey: string | undefined): boolean {
  if (idempotencyKey !== undefined) return true;
  const configured = server.tools[entry.upstreamName]?.idempotent;
  if (configured !== undefined) return configured;
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
  return async (req, server, entry, args) => {
    if (!deps.ready()) throw new McpbusError(ErrorCode.QueueUnavailable, 'The job queue (Redis) cannot be reached, so long-running calls cannot start; try again shortly');
    const owner = req.owner ?? ANONYMOUS_OWNER;
    const ttlMs = Math.min(settings.taskMaxTtlMs, Math.max(MIN_TASK_TTL_MS, req.task?.ttlMs ?? settings.taskTtlMs));
    const task = { taskId: req.callId, owner, server: server.name, tool: req.name, ttlMs, pollIntervalMs: settings.taskPollIntervalMs };
    const now = Date.now();
    try {
      const created = await deps.store.create(req.progressToken === undefined ? task : { ...task, progressToken: req.progressToken }, now);
      if (created) {
        const job = {
          v: 1 as const,
          callId: req.callId,
          server: server.name,
          tool: req.name,
          upstreamName: entry.upstreamName,
          arguments: args,
          byUpstreamName: req.byUpstreamName === true,
          retriable: isRetriable(server, entry, req.idempotencyKey),
          timeoutMs: server.jobTimeoutMs,
        };
        await enqueueCall(deps.queue, job, { maxAttempts: settings.jobMaxAttempts, backoffMs: settings.jobBackoffMs, retentionMs: ttlMs }).catch(async (err: unknown) => {
          await deps.store.finish(req.callId, 'failed', { ok: false, error: { code: ErrorCode.QueueUnavailable, message: 'the job could not be queued' } });
          throw err;
        });
        return { taskId: task.taskId, status: 'working', createdAt: now, lastUpdatedAt: now, ttlMs, pollIntervalMs: task.pollIntervalMs, server: task.server, tool: task.tool, events: 0 };
      }
      // The same idempotency key again: the first call's task, as it stands.
      const record = await deps.store.get(req.callId, owner);
      if (record === undefined) throw new McpbusError(ErrorCode.UnknownTask, `Task ${req.callId} vanished as it was created`);
      return record.info;
    } catch (err: unknown) {
      if (err instanceof McpbusError) throw err;
      throw new McpbusError(ErrorCode.QueueUnavailable, `The job queue (Redis) failed: ${messageOf(err)}`, { cause: err });
    }
  };
}
