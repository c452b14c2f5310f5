import { UnrecoverableError, type Job } from 'bullmq';
import type { CallJob, TaskStore } from '@mcpbus/jobs';
import {
  ErrorCode,
  McpbusError,
  TERMINAL_TASK_STATUSES,
  messageOf,
  type ProgressEvent,
  type ProgressUpdate,
  type ResultEvent,
  type TaskOutcome,
  type TaskStatus,
} from '@mcpbus/protocol';
import { callUpstreamTool, type CallLimiter, type CallLimits, type CredentialPools, type ServerSessions } from '@mcpbus/upstream';
import { observeUpstreamCall, traceFields } from '@mcpbus/logging';
import type { Logger } from 'pino';

/** Failures worth another attempt of a retriable call: the upstream was not reached or did not answer in time. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set([ErrorCode.UpstreamUnavailable, ErrorCode.UpstreamTimeout, ErrorCode.Timeout]);
/** Room kept for the rest of a ResultEvent around the result. */
const EVENT_ENVELOPE_BYTES = 16 * 1024;

/** The abort reason of calls a shutting-down runner leaves behind: their tasks are left for another runner. */
export const SHUTDOWN = new McpbusError(ErrorCode.Cancelled, 'the runner shut down before the call finished');

export interface RunJobDeps {
  sessions: { get(name: string): ServerSessions | undefined };
  /** Sessions per caller credentials, for jobs that carry them. */
  credentials: CredentialPools;
  /** Per-upstream bounds on running and waiting calls. */
  limiter: CallLimiter;
  /** The server's bounds (from the config). */
  limitsOf(server: string): CallLimits;
  store: TaskStore;
  /** Attempts a retriable job gets at most, stalls included. */
  maxAttempts: number;
  /** The largest outcome that can be announced on the bus (NATS max_payload). */
  maxOutcomeBytes: number;
  publishProgress(event: ProgressEvent): void;
  /** Announces a job's end on its events subject (and on `replyTo`, when the submitter named one). */
  publishResult(event: ResultEvent, replyTo?: string): void;
  /** Registers the call so a broadcast cancel can abort it; returns the unregister function. */
  track(callId: string, abort: AbortController): () => void;
  /** Why the key behind `owner` may no longer run this tool (revoked, blocked, narrowed), or undefined. */
  authorize(owner: string, server: string, upstreamName: string): McpbusError | undefined;
  /** Adds a job's end to the audit trail. */
  audit(job: CallJob, owner: string, outcome: TaskOutcome, durationMs: number): void;
  log: Logger;
}

function outcomeUnknown(tool: string, retriable: boolean): McpbusError {
  return new McpbusError(
    ErrorCode.OutcomeUnknown,
    retriable
      ? `Outcome unknown: the call of ${tool} was interrupted on every attempt (a runner stopped mid-call each time)`
      : `Outcome unknown: the runner running ${tool} stopped mid-call, so the tool may or may not have run. ` +
        'It was not run again because it is not marked idempotent or read-only and the call carried no idempotency key.',
  );
}

/**
 * Ends a task unless it already ended, and, if this did it, tells the watchers. Returns false
 * when the task had already ended (a cancel got there first).
 */
export async function endTask(deps: Pick<RunJobDeps, 'store' | 'publishResult' | 'log'> & { audit?: (owner: string, outcome: TaskOutcome) => void }, callId: string, events: number | undefined, status: TaskStatus, outcome: TaskOutcome, message?: string): Promise<boolean> {
  const { changed, record } = await deps.store.finish(callId, status, outcome, message);
  if (changed && record !== undefined) {
    deps.audit?.(record.owner, outcome);
    try {
      deps.publishResult({ v: 1, type: 'result', callId, events: events ?? record.info.events, task: record.info, outcome }, record.replyTo);
    } catch (err: unknown) {
      // Watchers also poll the task, so they learn of the end anyway.
      deps.log.warn({ callId, err: messageOf(err) }, 'could not announce the end of a job');
    }
  }
  return changed;
}

/**
 * Runs one call job. The task record decides what may happen: a task that already ended (it was
 * cancelled while it waited) is not run; a second start of a call that may not be retried means a
 * runner died mid-call, and the job ends `outcome_unknown` instead of running the tool twice.
 */
export async function runJob(job: Job<CallJob>, deps: RunJobDeps): Promise<Record<string, unknown>> {
  const data = job.data;
  const { callId } = data;
  const log = deps.log.child({ callId, server: data.server, tool: data.tool, attempt: job.attemptsStarted, ...traceFields() });
  // Tracked before the start is recorded, so a cancel that comes right after it is not missed.
  const abort = new AbortController();
  const untrack = deps.track(callId, abort);
  const startedAt = Date.now();
  const ending = { ...deps, audit: (owner: string, outcome: TaskOutcome) => deps.audit(data, owner, outcome, Date.now() - startedAt) };
  try {
    const start = await deps.store.start(callId, 'running');
    if (start === undefined || TERMINAL_TASK_STATUSES.has(start.status)) {
      log.info({ status: start?.status ?? 'expired' }, 'job skipped: its task has already ended');
      return {};
    }
    let events = start.events;
    const fail = async (err: McpbusError): Promise<never> => {
      await endTask(ending, callId, events, 'failed', { ok: false, error: err.toBody() }, err.message);
      throw new UnrecoverableError(err.message);
    };
    if ((start.runs > 1 && !data.retriable) || start.runs > deps.maxAttempts) {
      log.warn({ runs: start.runs }, 'job restarted after a runner stopped mid-call; not running it again');
      return await fail(outcomeUnknown(data.tool, data.retriable));
    }
    // A key revoked, blocked or narrowed while its call waited (or between attempts) runs nothing.
    const refusal = data.owner === undefined ? undefined : deps.authorize(data.owner, data.server, data.upstreamName);
    if (refusal !== undefined) return await fail(refusal);
    const base = deps.sessions.get(data.server);
    if (base === undefined) return await fail(new McpbusError(ErrorCode.UnknownServer, `No server "${data.server}" is configured on this runner`));

    let result: Record<string, unknown>;
    let releaseSessions = (): void => undefined;
    try {
      if (abort.signal.aborted) throw abort.signal.reason;
      const { sessions, release } = deps.credentials.use(base, data.upstreamHeaders);
      releaseSessions = release;
      // A job waits for a slot as long as it takes (job_concurrency bounds how many do), and the
      // breaker is the inline path's: a job refused without calling would end for nothing.
      const limits = { ...deps.limitsOf(data.server), maxQueued: Number.MAX_SAFE_INTEGER, breakAfter: 0 };
      result = await deps.limiter.run(data.server, limits, { signal: abort.signal, waitMs: Number.POSITIVE_INFINITY }, () => observeUpstreamCall('runner', data.server, data.upstreamName, () => callUpstreamTool(sessions, {
        upstreamName: data.upstreamName,
        arguments: data.arguments,
        signal: abort.signal,
        timeoutMs: data.timeoutMs,
        keepUpstreamUris: data.byUpstreamName,
        progressToken: `mcpbus-${callId}-${start.runs}`,
        onProgress: (p: ProgressUpdate) => {
          events += 1;
          deps.publishProgress({ v: 1, type: 'progress', callId, seq: events, ...p });
          void job.updateProgress(p).catch(() => undefined);
          void deps.store.progress(callId, p, events).catch(() => undefined);
        },
      })));
    } catch (err: unknown) {
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : err;
      // A runner shutting down leaves the task as it is: another runner decides what happens to it.
      if (reason === SHUTDOWN) throw new Error('the runner shut down mid-call', { cause: err });
      const failure = reason instanceof McpbusError ? reason : new McpbusError(ErrorCode.Internal, 'the call failed inside the runner', { cause: err });
      if (failure.code === ErrorCode.Cancelled) {
        await endTask(ending, callId, events, 'cancelled', { ok: false, error: failure.toBody() }, failure.message);
        throw new UnrecoverableError(failure.message);
      }
      const attempts = job.opts.attempts ?? 1;
      if (data.retriable && TRANSIENT.has(failure.code) && job.attemptsMade + 1 < attempts) {
        log.warn({ err: failure.message, attemptsMade: job.attemptsMade + 1, attempts }, 'job attempt failed; retrying');
        throw failure;
      }
      return await fail(failure);
    } finally {
      releaseSessions();
    }
    const bytes = Buffer.byteLength(JSON.stringify(result));
    if (bytes > deps.maxOutcomeBytes)
      return await fail(new McpbusError(ErrorCode.PayloadTooLarge, `the result is ${bytes} bytes, more than the bus carries (${deps.maxOutcomeBytes}); raise max_payload in the nats-server config`));
    await endTask(ending, callId, events, 'completed', { ok: true, result });
    return result;
  } finally {
    untrack();
    // Client credentials are not kept with a job that can no longer use them.
    if (data.upstreamHeaders !== undefined && (await isOver(job))) {
      const { upstreamHeaders: _dropped, ...rest } = data;
      await job.updateData(rest).catch(() => undefined);
    }
  }
}

/** Whether the job has no attempt left to run (its task has ended, or it is about to). */
async function isOver(job: Job<CallJob>): Promise<boolean> {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1) || (await job.isCompleted().catch(() => false));
}

/** Room to leave for the event around an outcome, given the bus's largest message. */
export function maxOutcomeBytes(maxPayload: number | undefined): number {
  return Math.max(1, (maxPayload ?? 1024 * 1024) - EVENT_ENVELOPE_BYTES);
}
