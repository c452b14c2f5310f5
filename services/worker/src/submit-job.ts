import { executionOf, type McpbusConfig, type ServerConfig } from '@mcpbus/config';
import { enqueueCall, type CallQueue, type TaskStore } from '@mcpbus/jobs';
import { ErrorCode, McpbusError, TERMINAL_TASK_STATUSES, idempotentCallId, messageOf, type CallToolRequest, type CatalogTool, type TaskInfo } from '@mcpbus/protocol';
import { SpanKind, inSpan, traceCarrier } from '@mcpbus/logging';

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

/**
 * Queues a validated call as a job of `owner` (the fingerprint of the key the request carried).
 * With `fixedId` the task takes the call id even when the call has an idempotency key (durable
 * submissions, where the caller chose the id to fetch the outcome by).
 */
export type JobSubmitter = (req: CallToolRequest, owner: string, server: ServerConfig, entry: CatalogTool, args: Record<string, unknown>, options?: { fixedId?: boolean; replyTo?: string }) => Promise<TaskInfo>;

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
  return executionOf(server, entry.upstreamName) === 'job';
}

/**
 * Turns a validated call into a task record and a BullMQ job. A call whose idempotency key was
 * seen before gets the first call's task back and starts nothing.
 */
export function createJobSubmitter(deps: JobSubmitterDeps): JobSubmitter {
  const settings = deps.config.settings;
  return async (req, owner, server, entry, args, options = {}) => {
    if (!deps.ready()) throw new McpbusError(ErrorCode.QueueUnavailable, 'The job queue (Redis) cannot be reached, so long-running calls cannot start; try again shortly');
    const ttlMs = Math.min(settings.taskMaxTtlMs, Math.max(MIN_TASK_TTL_MS, req.task?.ttlMs ?? settings.taskTtlMs));
    const retriable = isRetriable(server, entry, req.idempotencyKey);
    const attempts = retriable ? settings.jobMaxAttempts : 1;
    // A key names the call for its owner: the same key again finds the first call's task.
    const keyed = req.idempotencyKey !== undefined && options.fixedId !== true;
    const taskId = keyed && req.idempotencyKey !== undefined ? idempotentCallId(owner, server.name, req.name, req.idempotencyKey) : req.callId;
    // A task whose id may repeat (a key, a caller-chosen id) gets a BullMQ job id of its own: the
    // job of an earlier, expired task with that id may still be retained, and adding under its id
    // would silently do nothing.
    const jobIdOf = (createdAt: number): string => (keyed || options.fixedId === true ? `${taskId}-${createdAt}` : taskId);
    const task = {
      taskId,
      owner,
      server: server.name,
      tool: req.name,
      ttlMs,
      holdMs: server.jobTimeoutMs * attempts + settings.jobBackoffMs * 2 ** Math.min(attempts, 20) + QUEUE_WAIT_ALLOWANCE_MS,
      pollIntervalMs: settings.taskPollIntervalMs,
      ...(options.replyTo === undefined ? {} : { replyTo: options.replyTo }),
    };
    const now = Date.now();
    let created: boolean;
    try {
      created = await deps.store.create(req.progressToken === undefined ? task : { ...task, progressToken: req.progressToken }, now);
    } catch (err: unknown) {
      throw new McpbusError(ErrorCode.QueueUnavailable, `The task store (Redis) failed: ${messageOf(err)}`, { cause: err });
    }
    const job = {
      v: 1 as const,
      callId: taskId,
      owner,
      server: server.name,
      tool: req.name,
      upstreamName: entry.upstreamName,
      arguments: args,
      byUpstreamName: req.byUpstreamName === true,
      retriable,
      timeoutMs: server.jobTimeoutMs,
      ...(req.upstreamHeaders === undefined ? {} : { upstreamHeaders: req.upstreamHeaders }),
    };
    // The job carries the enqueue span's trace context: the runner's attempts continue the call's trace.
    const enqueue = (createdAt: number): Promise<void> =>
      inSpan(`enqueue tools/call ${req.name}`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'bullmq', 'mcpbus.call_id': taskId } }, () => {
        const trace = traceCarrier();
        return enqueueCall(deps.queue, trace === undefined ? job : { ...job, trace }, { jobId: jobIdOf(createdAt), attempts, backoffMs: settings.jobBackoffMs, retentionMs: ttlMs });
      });
    if (!created) {
      const record = await deps.store.get(taskId, owner);
      if (record === undefined) throw new McpbusError(ErrorCode.UnknownTask, `Task ${taskId} expired as it was looked up; try again`);
      // The same call again (a repeated key, a redelivered submission). If whoever created the
      // task stopped before queueing its job, queue it now; a queued job is never queued twice.
      if (!TERMINAL_TASK_STATUSES.has(record.info.status) && record.runs === 0 && (await deps.queue.getJob(jobIdOf(record.info.createdAt))) === undefined) await enqueue(record.info.createdAt);
      return record.info;
    }
    try {
      await enqueue(now);
    } catch (err: unknown) {
      // No job, no task: the caller may simply try again (with the same key, too).
      await deps.store.remove(taskId, owner).catch(() => undefined);
      throw new McpbusError(ErrorCode.QueueUnavailable, `The job queue (Redis) failed: ${messageOf(err)}`, { cause: err });
    }
    return { taskId, status: 'working', createdAt: now, lastUpdatedAt: now, ttlMs, pollIntervalMs: task.pollIntervalMs, server: task.server, tool: task.tool, events: 0 };
  };
}
