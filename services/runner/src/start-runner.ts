import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { decodeBody, encodeJson, type NatsConnection } from '@mcpbus/bus';
import type { McpbusConfig } from '@mcpbus/config';
import { CALL_QUEUE, connectRedis, createTaskStore, jobKeys, type CallJob } from '@mcpbus/jobs';
import { ErrorCode, McpbusError, createSubjects, messageOf, type CancelMessage } from '@mcpbus/protocol';
import { createServerPools } from '@mcpbus/upstream';
import type { Logger } from 'pino';
import { runJob } from './run-job.js';

export interface StartRunnerOptions {
  config: McpbusConfig;
  nc: NatsConnection;
  redisUrl: string;
  log: Logger;
  /** Shown in logs; random by default. */
  runnerId?: string;
}

export interface RunnerHandle {
  readonly runnerId: string;
  /** Stops taking jobs and waits for running ones (up to the drain timeout), then closes upstreams. */
  close(): Promise<void>;
}

/**
 * The runner: a BullMQ Worker on the call queue with its own upstream session pools. Each job's
 * progress goes to the call's NATS event subject, to `job.updateProgress` and to the task record;
 * its end is stored with the task and announced on the same subject. Cancels arrive as the
 * broadcast every worker hears.
 */
export async function startRunner(options: StartRunnerOptions): Promise<RunnerHandle> {
  const { config, nc } = options;
  const settings = config.settings;
  const runnerId = options.runnerId ?? `runner-${randomUUID().slice(0, 8)}`;
  const log = options.log.child({ role: 'runner', runnerId });
  const subjects = createSubjects(settings.subjectRoot);
  const { redis } = await connectRedis(options.redisUrl, 'consumer', log);
  const store = createTaskStore(redis, settings.subjectRoot);
  const sessions = await createServerPools(config, log);
  const running = new Map<string, AbortController>();

  const cancelSub = nc.subscribe(subjects.callCancelAny(), {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const cancel = decodeBody<CancelMessage>(msg.data, 'CancelMessage');
        const abort = running.get(cancel.callId);
        if (abort === undefined) return;
        log.info({ callId: cancel.callId, reason: cancel.reason }, 'job cancelled');
        abort.abort(new McpbusError(ErrorCode.Cancelled, cancel.reason ?? 'cancelled by the caller'));
      } catch (failure: unknown) {
        log.warn({ err: messageOf(failure) }, 'ignored malformed cancel message');
      }
    },
  });

  const worker = new Worker<CallJob, Record<string, unknown>>(
    CALL_QUEUE,
    (job) =>
      runJob(job, {
        sessions,
        store,
        maxAttempts: settings.jobMaxAttempts,
        publishProgress: (event) => nc.publish(subjects.callEvents(event.callId), encodeJson(event)),
        publishResult: (event) => nc.publish(subjects.callEvents(event.callId), encodeJson(event)),
        track: (callId, abort) => {
          running.set(callId, abort);
          return () => running.delete(callId);
        },
        log,
      }),
    {
      connection: redis,
      prefix: jobKeys(settings.subjectRoot).bullPrefix,
      concurrency: settings.jobConcurrency,
      lockDuration: settings.jobLockMs,
      stalledInterval: settings.jobLockMs,
      // The task record, not BullMQ, decides what a restarted job may do (see runJob).
      maxStalledCount: settings.jobMaxAttempts + 1,
    },
  );
  worker.on('error', (err: Error) => log.warn({ err: err.message }, 'job queue error'));
  await worker.waitUntilReady();
  await nc.flush();
  log.info({ concurrency: settings.jobConcurrency }, 'runner ready');
  // Connect the pools now so the first job does not pay for spawning stdio servers.
  for (const pool of sessions.values()) void pool.acquire().catch(() => undefined);

  let closing: Promise<void> | undefined;
  async function drain(): Promise<void> {
    // Running jobs get the drain timeout; past it they are left to stall, and another runner
    // decides (by the task record) whether they may run again.
    const closed = worker.close();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), settings.drainTimeoutMs)));
    if (await Promise.race([closed.then(() => false), timedOut])) {
      log.warn({ jobs: running.size }, 'drain timeout: leaving running jobs to another runner');
      await worker.close(true).catch(() => undefined);
    }
    clearTimeout(timer);
    cancelSub.unsubscribe();
    await Promise.allSettled([...sessions.values()].map((s) => s.close()));
    await redis.quit().catch(() => redis.disconnect());
    log.info('runner stopped');
  }

  return {
    runnerId,
    close() {
      closing ??= drain();
      return closing;
    },
  };
}
