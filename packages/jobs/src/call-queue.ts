import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CALL_QUEUE, jobKeys } from './keys.js';

/** The data of one call run as a BullMQ job. Arguments were validated before it was enqueued. */
export interface CallJob {
  v: 1;
  callId: string;
  /**
   * The key's digest that made the call: the runner checks, when the job starts and before each
   * retry, that the key still exists and may still use the tool (absent in jobs queued by
   * mcpbus before keys could be revoked).
   */
  owner?: string;
  server: string;
  /** The name the client called. */
  tool: string;
  upstreamName: string;
  arguments: Record<string, unknown>;
  /** Leave resource URIs as the upstream wrote them (single-server routes). */
  byUpstreamName: boolean;
  /** May run again after a runner died mid-call or a transient upstream failure. */
  retriable: boolean;
  /** Deadline of each attempt's upstream call. */
  timeoutMs: number;
  /** The caller's own credentials for the server (kept in Redis with the job for as long as it is). */
  upstreamHeaders?: Record<string, string>;
  /**
   * The W3C trace context (`traceparent`, `tracestate`) of the span that queued the job, so the
   * runner's attempts join the call's trace. Absent when nothing was traced.
   */
  trace?: Record<string, string>;
}

export interface EnqueueOptions {
  /** The BullMQ job id (the call id, unless that may repeat). */
  jobId: string;
  attempts: number;
  backoffMs: number;
  /** How long BullMQ keeps the finished job (and its result or error). */
  retentionMs: number;
}

export type CallQueue = Queue<CallJob, Record<string, unknown>>;

/** The producer side of the call queue, on a connection the caller owns. */
export function createCallQueue(redis: Redis, subjectRoot: string): CallQueue {
  return new Queue<CallJob, Record<string, unknown>>(CALL_QUEUE, { connection: redis, prefix: jobKeys(subjectRoot).bullPrefix });
}

/** Enqueues a call; a second add under the same job id is a no-op. */
export async function enqueueCall(queue: CallQueue, job: CallJob, options: EnqueueOptions): Promise<void> {
  const age = Math.max(1, Math.ceil(options.retentionMs / 1000));
  await queue.add('tools/call', job, {
    jobId: options.jobId,
    attempts: options.attempts,
    backoff: { type: 'exponential', delay: options.backoffMs },
    removeOnComplete: { age },
    removeOnFail: { age },
  });
}
