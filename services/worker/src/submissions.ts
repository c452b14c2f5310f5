import { allowsServer, type Principal } from '@mcpbus/access';
import { decodeBody, type IntakeVerdict, type JsMsg } from '@mcpbus/bus';
import type { McpbusConfig } from '@mcpbus/config';
import type { TaskStore } from '@mcpbus/jobs';
import { ErrorCode, McpbusError, REPLY_TO_HEADER, messageOf, serverFromToken, type CallToolRequest, type ResultEvent, type TaskOutcome } from '@mcpbus/protocol';
import type { ServerSessions } from '@mcpbus/upstream';
import type { Logger } from 'pino';
import { runCall, type RunCallDeps } from './run-call.js';

/** Failures that say "not now" rather than "never": the submission stays in the stream. */
const TRY_LATER: ReadonlySet<ErrorCode> = new Set([ErrorCode.QueueUnavailable, ErrorCode.UpstreamUnavailable, ErrorCode.UpstreamTimeout]);
/** How often the job queue's backlog is counted, at most. */
const BACKLOG_CHECK_MS = 500;
const LITERAL_SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/**
 * A reply subject a submitter may name: a literal subject (no wildcards, no `$` system subjects)
 * outside mcpbus's own subjects, so an end can only ever land in the submitter's inbox.
 */
export function isAllowedReplySubject(subject: string, subjectRoot: string): boolean {
  return subject.length <= 256 && LITERAL_SUBJECT.test(subject) && !subject.startsWith(`${subjectRoot}.`);
}

export interface SubmissionDeps {
  config: McpbusConfig;
  sessions: { get(name: string): ServerSessions | undefined };
  store: TaskStore;
  run: Omit<RunCallDeps, 'submitJob'> & { submitJob: NonNullable<RunCallDeps['submitJob']> };
  /** Who a submission's key stands for; throws `unauthorized`. */
  authenticate(msg: JsMsg): Principal;
  /** Calls waiting in the job queue. */
  waitingJobs(): Promise<number>;
  /** The key's rate and concurrency limits (as for calls); throws `rate_limited`. */
  admit(principal: Principal): Promise<() => void>;
  /** Announces an end on the call's events subject (and on the submitter's reply subject, if any). */
  publishEnd(event: ResultEvent, replyTo?: string): void;
  log: Logger;
}

/**
 * Handles durable submissions (JetStream): each becomes a job under the caller's call id, so its
 * outcome can be followed on the call's events subject or fetched with `tasks.get`. The stream
 * message is acked once the job is queued (or the submission has been answered); a submission the
 * queue cannot take yet stays in the stream, which is how a full backlog refuses new ones.
 */
export function createSubmissionHandler(deps: SubmissionDeps): (msg: JsMsg) => Promise<IntakeVerdict> {
  const settings = deps.config.settings;
  let backlog = { count: 0, at: 0 };
  const backlogFull = async (): Promise<boolean> => {
    if (Date.now() - backlog.at > BACKLOG_CHECK_MS) backlog = { count: await deps.waitingJobs(), at: Date.now() };
    return backlog.count >= settings.submitBacklogMax;
  };

  /** Announces an end; a reply subject that cannot be published to costs the submitter only that copy. */
  const announce = (event: ResultEvent, replyTo: string | undefined): void => {
    try {
      deps.publishEnd(event, replyTo);
    } catch (err: unknown) {
      deps.log.warn({ callId: event.callId, err: messageOf(err) }, 'could not announce the end of a submission');
    }
  };
  /** An end that is announced but not stored (nobody to store it for, or the id is taken). */
  const refuse = (req: CallToolRequest, error: McpbusError, replyTo?: string): void => {
    const now = Date.now();
    const task = { taskId: req.callId, status: 'failed' as const, statusMessage: error.message, createdAt: now, lastUpdatedAt: now, ttlMs: 0, pollIntervalMs: 0, server: req.server, tool: req.name, events: 0 };
    announce({ v: 1, type: 'result', callId: req.callId, events: 0, outcome: { ok: false, error: error.toBody() }, task }, replyTo);
  };

  /** Ends a submission that never becomes a job, as a task of its own, so it can be fetched too. */
  const answer = async (req: CallToolRequest, owner: string, outcome: TaskOutcome, replyTo: string | undefined): Promise<void> => {
    const task = { taskId: req.callId, owner, server: req.server, tool: req.name, ttlMs: settings.taskTtlMs, holdMs: settings.taskTtlMs, pollIntervalMs: settings.taskPollIntervalMs, ...(replyTo === undefined ? {} : { replyTo }) };
    if (!(await deps.store.create(task))) {
      // A redelivery (answered already; or, rarely, stopped between creating and ending the task,
      // which is then left to expire rather than risk ending a queued job's task) or an id in use.
      const existing = await deps.store.get(req.callId);
      if (existing !== undefined && existing.owner !== owner) refuse(req, new McpbusError(ErrorCode.InvalidParams, `call id ${req.callId} is already in use; submit with another`), replyTo);
      return;
    }
    const status = outcome.ok ? 'completed' : 'failed';
    const { changed, record } = await deps.store.finish(req.callId, status, outcome, outcome.ok ? '' : outcome.error.message);
    if (changed && record !== undefined) announce({ v: 1, type: 'result', callId: req.callId, events: 0, task: record.info, outcome }, replyTo);
  };

  return async (msg) => {
    let req: CallToolRequest;
    try {
      req = decodeBody<CallToolRequest>(msg.data, 'CallToolRequest');
    } catch (err: unknown) {
      deps.log.warn({ err: messageOf(err) }, 'dropped a malformed submission');
      return 'drop';
    }
    let principal: Principal;
    try {
      principal = deps.authenticate(msg);
    } catch (err: unknown) {
      // Nothing is stored, and no reply subject used, for a caller that could not say who it is.
      refuse(req, err instanceof McpbusError ? err : new McpbusError(ErrorCode.Unauthorized, 'Unauthorized'));
      return 'drop';
    }
    const reply = msg.headers?.get(REPLY_TO_HEADER);
    if (reply !== undefined && reply !== '' && !isAllowedReplySubject(reply, settings.subjectRoot)) {
      refuse(req, new McpbusError(ErrorCode.BadRequest, `${REPLY_TO_HEADER} must be a literal subject outside mcpbus's own (no wildcards, no "$")`));
      return 'drop';
    }
    const replyTo = reply === undefined || reply === '' ? undefined : reply;
    // The subject names the server: a publisher allowed on one server's subject reaches only it.
    if (serverFromToken(msg.subject.split('.').at(-1) ?? '') !== req.server) {
      refuse(req, new McpbusError(ErrorCode.BadRequest, `a submission on ${msg.subject} must name server "${serverFromToken(msg.subject.split('.').at(-1) ?? '')}"`), replyTo);
      return 'drop';
    }
    const owner = principal.owner;
    const sessions = deps.sessions.get(req.server);
    if (!allowsServer(principal.access, req.server)) {
      await answer(req, owner, { ok: false, error: { code: ErrorCode.NotPermitted, message: `Tool ${req.name} is not permitted for this key` } }, replyTo);
      return 'ack';
    }
    if (sessions === undefined) {
      await answer(req, owner, { ok: false, error: { code: ErrorCode.UnknownServer, message: `Unknown tool: ${req.name} (no server "${req.server}" is configured)` } }, replyTo);
      return 'ack';
    }
    if (await backlogFull()) return 'retry';
    let release: () => void;
    try {
      release = await deps.admit(principal);
    } catch (err: unknown) {
      // Over its key's limits: the submission waits in the stream until the key is under them.
      if (err instanceof McpbusError && err.code === ErrorCode.RateLimited) return 'retry';
      throw err;
    }
    try {
      // A submission runs as a job, whose client is not there to be asked for input.
      const { interaction: _interaction, inputResponses: _inputResponses, requestState: _requestState, ...plain } = req;
      const outcome = await runCall({ ...plain, task: req.task?.ttlMs === undefined ? {} : { ttlMs: req.task.ttlMs } }, principal, sessions, new AbortController().signal, {
        ...deps.run,
        submitJob: (r, o, s, e, a) => deps.run.submitJob(r, o, s, e, a, replyTo === undefined ? { fixedId: true } : { fixedId: true, replyTo }),
      });
      // A call refused before it could become a job (bad arguments) is answered with its result.
      if ('result' in outcome) await answer(req, owner, { ok: true, result: outcome.result }, replyTo);
      return 'ack';
    } catch (err: unknown) {
      const failure = err instanceof McpbusError ? err : new McpbusError(ErrorCode.Internal, 'the submission failed inside the worker', { cause: err });
      if (TRY_LATER.has(failure.code)) return 'retry';
      const expired = failure.code === ErrorCode.Timeout ? new McpbusError(ErrorCode.Timeout, `the submission of ${req.name} reached its deadline before a worker took it`) : failure;
      await answer(req, owner, { ok: false, error: expired.toBody() }, replyTo);
      return 'ack';
    } finally {
      release();
    }
  };
}
