import { UnrecoverableError, type Job } from 'bullmq';
import type { CallJob, TaskStore } from '@mcpbus/jobs';
import {
  ErrorCode,
  McpbusError,
  TERMINAL_TASK_STATUSES,
  type ProgressEvent,
  type ProgressUpdate,
  type ResultEvent,
  type TaskOutcome,
  type TaskStatus,
} from '@mcpbus/protocol';
import { callUpstreamTool, type ServerSessions } from '@mcpbus/upstream';
import type { Logger } from 'pino';

/** Failures worth another attempt of a retriable call: the upstream was not reached or did not answer in time. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set([ErrorCode.UpstreamUnavailable, ErrorCode.UpstreamTimeout, ErrorCode.Timeout]);

export interface RunJobDeps {
  sessions: ReadonlyMap<string, ServerSessions>;
  store: TaskStore;
  /** Attempts a retriable job gets at most, stalls included. */
  maxAttempts: number;
  publishProgress(event: ProgressEvent): void;
  publishResult(event: ResultEvent): void;
  /** Registers the call so a broadcast cancel can abort it; returns the unregister function. */
  track(callId: string, abort: AbortController): () => void;
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
 * Runs one call job. The task record decides what may happen: a task that already ended (it was
 * cancelled while it waited) is not run; a second start of a call that may not be retried means a
 * runner died mid-call, and the job ends `outcome_unknown` instead of running the tool twice.
 */
export async function runJob(job: Job<CallJob>, deps: RunJobDeps): Promise<Record<string, unknown>> {
  const data = job.data;
  const { callId } = data;
  const log = deps.log.child({ callId, server: data.server, tool: data.tool, attempt: job.attemptsStarted });
  const start = await deps.store.start(callId, 'running');
  if (start === undefined || TERMINAL_TASK_STATUSES.has(start.status)) {
    log.info({ status: start?.status ?? 'expired' }, 'job skipped: its task has already ended');
    return {};
  }
  let seq = start.events;
  const end = async (status: TaskStatus, outcome: TaskOutcome, message?: string): Promise<void> => {
    const { changed, record } = await deps.store.finish(callId, status, outcome, message);
    // Whoever ended the task tells the watchers; a cancel got there first otherwise.
    if (changed && record !== undefined) deps.publishResult({ v: 1, type: 'result', callId, events: seq, task: record.info, outcome });
  };
  const fail = async (err: McpbusError): Promise<never> => {
    await end('failed', { ok: false, error: err.toBody() }, err.message);
    throw new UnrecoverableError(err.message);
  };

  if ((start.runs > 1 && !data.retriable) || start.runs > deps.maxAttempts) {
    log.warn({ runs: start.runs }, 'job restarted after a runner stopped mid-call; not running it again');
    return fail(outcomeUnknown(data.tool, data.retriable));
  }
  const sessions = deps.sessions.get(data.server);
  if (sessions === undefined) return fail(new McpbusError(ErrorCode.UnknownServer, `No server "${data.server}" is configured on this runner`));

  const abort = new AbortController();
  const untrack = deps.track(callId, abort);
  try {
    const result = await callUpstreamTool(sessions, {
      upstreamName: data.upstreamName,
      arguments: data.arguments,
      signal: abort.signal,
      timeoutMs: data.timeoutMs,
      keepUpstreamUris: data.byUpstreamName,
      progressToken: `mcpbus-${callId}-${start.runs}`,
      onProgress: (p: ProgressUpdate) => {
        seq += 1;
        deps.publishProgress({ v: 1, type: 'progress', callId, seq, ...p });
        void job.updateProgress(p).catch(() => undefined);
        void deps.store.progress(callId, p, seq).catch(() => undefined);
      },
    });
    await end('completed', { ok: true, result });
    return result;
  } catch (err: unknown) {
    if (err instanceof UnrecoverableError) throw err;
    const failure = abort.signal.aborted && abort.signal.reason instanceof McpbusError ? abort.signal.reason : err instanceof McpbusError ? err : new McpbusError(ErrorCode.Internal, 'the call failed inside the runner');
    if (failure.code === ErrorCode.Cancelled) {
      await end('cancelled', { ok: false, error: failure.toBody() }, failure.message);
      throw new UnrecoverableError(failure.message);
    }
    const attempts = job.opts.attempts ?? 1;
    if (data.retriable && TRANSIENT.has(failure.code) && job.attemptsMade + 1 < attempts) {
      log.warn({ err: failure.message, attemptsMade: job.attemptsMade + 1, attempts }, 'job attempt failed; retrying');
      throw failure;
    }
    return fail(failure);
  } finally {
    untrack();
  }
}
