import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { encodeJson, trackConnection, listenForCancels, publishCallEnd, recordCall, type NatsConnection } from '@mcpbus/bus';
import type { McpbusConfig } from '@mcpbus/config';
import { CALL_QUEUE, connectRedis, createCallQueue, createTaskStore, jobKeys, type CallJob } from '@mcpbus/jobs';
import { ErrorCode, McpbusError, createSubjects, type ResultEvent } from '@mcpbus/protocol';
import { createCallLimiter, createCredentialPools, startServerPools, upstreamStates } from '@mcpbus/upstream';
import { registerRoleGauges } from '@mcpbus/logging';
import { allowsTool, startKeyDirectory, startServerDirectory } from '@mcpbus/access';
import type { Logger } from 'pino';
import { SHUTDOWN, endTask, maxOutcomeBytes, runJob } from './run-job.js';
import { countJob, traceJob } from './telemetry.js';

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
  /** Whether it can take jobs: Redis answers and NATS is connected. */
  ready(): boolean;
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
  const natsState = trackConnection(nc);
  const { redis } = await connectRedis(options.redisUrl, 'consumer', log);
  const store = createTaskStore(redis, settings.subjectRoot);
  // Jobs may call servers added through the admin API: the runner follows the directory too.
  const directory = await startServerDirectory(nc, config, log);
  const keys = await startKeyDirectory(nc, config, log, (ref) => directory.resolveRef(ref));
  const authorize = (owner: string, server: string, upstreamName: string): McpbusError | undefined => {
    const principal = keys.authorizeOwner(owner);
    if (principal instanceof McpbusError) return principal;
    return allowsTool(principal.access, server, upstreamName) ? undefined : new McpbusError(ErrorCode.NotPermitted, `Tool ${upstreamName} of server ${server} is no longer permitted for the key that made this call`);
  };
  const credentials = createCredentialPools(log);
  const sessions = await startServerPools(config, directory, log, { onServerChanged: (server) => credentials.retire(server) });
  const limiter = createCallLimiter();
  const limitsOf = (name: string) => {
    const s = directory.get(name);
    return s === undefined ? { maxConcurrent: 64, maxQueued: 256 } : { maxConcurrent: s.maxConcurrentCalls, maxQueued: s.maxQueuedCalls, breakAfter: s.circuitBreakerFailures };
  };
  const running = new Map<string, AbortController>();
  const publishResult = (event: ResultEvent, replyTo?: string): void => publishCallEnd(nc, subjects, event, replyTo);
  const cancelSub = listenForCancels(nc, subjects, running, log);
  // Only counted at scrape time, on the runner's own connection.
  const queue = createCallQueue(redis, settings.subjectRoot);
  queue.on('error', () => undefined);
  const unregisterGauges = registerRoleGauges('runner', { upstream: () => upstreamStates(sessions, limiter), inFlight: () => running.size, queue, queueKey: jobKeys(settings.subjectRoot).bullPrefix, queueReady: () => redis.status === 'ready' });

  const worker = new Worker<CallJob, Record<string, unknown>>(
    CALL_QUEUE,
    (job) =>
      traceJob(job, () => runJob(job, {
        sessions,
        credentials,
        limiter,
        limitsOf,
        authorize,
        store,
        maxAttempts: settings.jobMaxAttempts,
        maxOutcomeBytes: maxOutcomeBytes(nc.info?.max_payload),
        publishProgress: (event) => nc.publish(subjects.callEvents(event.callId), encodeJson(event)),
        publishResult,
        audit: (job, owner, outcome, durationMs) => {
          countJob(job, outcome);
          recordCall(nc, subjects, log.child({ callId: job.callId, server: job.server, tool: job.tool }), {
            callId: job.callId,
            owner,
            server: job.server,
            tool: job.tool,
            outcome: outcome.ok ? (outcome.result['isError'] === true ? 'tool_error' : 'ok') : 'error',
            ...(outcome.ok ? {} : { errorCode: outcome.error.code }),
            durationMs,
            job: true,
            ...(settings.auditArguments ? { arguments: job.arguments } : {}),
          });
        },
        track: (callId, abort) => {
          running.set(callId, abort);
          return () => running.delete(callId);
        },
        log,
      })),
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
  // A job can fail for good after the processor threw before it could record the end (Redis
  // trouble): the task must not stay "working". The event also fires for attempts that will be
  // retried (no finishedOn yet); a task runJob already ended is left as it is.
  worker.on('failed', (job, err) => {
    if (job === undefined || !job.finishedOn) return;
    const failure = new McpbusError(ErrorCode.OutcomeUnknown, `Outcome unknown: the job running ${job.data.tool} failed (${err.message})`);
    void endTask({ store, publishResult, log }, job.data.callId, undefined, 'failed', { ok: false, error: failure.toBody() }, failure.message).catch(() => undefined);
  });
  await worker.waitUntilReady();
  await nc.flush();
  log.info({ concurrency: settings.jobConcurrency }, 'runner ready');
  // Connect the pools now so the first job does not pay for spawning stdio servers.
  for (const pool of sessions.values()) void pool.acquire().catch(() => undefined);

  let closing: Promise<void> | undefined;
  async function drain(): Promise<void> {
    // No new jobs; running ones get the drain timeout. Past it they are aborted without being
    // ended and the connection dropped, so their locks lapse and another runner decides (by the
    // task record) whether they may run again.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), settings.drainTimeoutMs)));
    const finished = await Promise.race([worker.pause().then(() => false), timedOut]);
    clearTimeout(timer);
    if (finished) {
      log.warn({ jobs: running.size }, 'drain timeout: leaving running jobs to another runner');
      for (const abort of running.values()) abort.abort(SHUTDOWN);
      redis.disconnect();
    }
    // A forced close must not hang on a connection that is gone.
    await Promise.race([worker.close(true).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    cancelSub.unsubscribe();
    unregisterGauges();
    await queue.close().catch(() => undefined);
    await sessions.close();
    await credentials.close();
    await Promise.allSettled([directory.close(), keys.close()]);
    if (!finished) await redis.quit().catch(() => redis.disconnect());
    log.info('runner stopped');
  }

  return {
    runnerId,
    ready: () => redis.status === 'ready' && natsState.connected() && !closing,
    close() {
      closing ??= drain();
      return closing;
    },
  };
}
