import type { ArgumentValidator } from '@mcpbus/catalog';
import { allowsTool, type Principal } from '@mcpbus/access';
import { ErrorCode, INVALID_ARGUMENTS_META_KEY, MAX_JSON_DEPTH, declaresInputCapability, McpbusError, nestsDeeperThan, type CallToolRequest, type CatalogTool, type InputRequired, type ProgressEvent, type TaskInfo } from '@mcpbus/protocol';
import { observeUpstreamCall } from '@mcpbus/logging';
import { MAX_INPUT_ROUNDS, callUpstreamInteractive, callUpstreamTool, type CallLimiter, type CallSlot, type CredentialPools, type InteractiveToolCall, type ServerSessions } from '@mcpbus/upstream';
import { createParkedCall, type ParkedCall, type ParkedStep, type PushAsker, type RequestState, type RequestStates, type ResumeTarget } from './interaction.js';
import { createParkedProgress } from './parked-progress.js';
import { asNewCall, declinedUrlRound, isUrlElicitationRequired, urlElicitationRound } from './url-elicitation.js';
import type { CatalogCache } from './catalog-cache.js';
import { runsAsJob, type JobSubmitter } from './submit-job.js';

/** Time kept back from the caller's deadline so a timeout is answered before the caller gives up. */
const REPLY_MARGIN_MS = 50;

export interface RunCallDeps {
  catalog: CatalogCache;
  validator: ArgumentValidator;
  /** Publishes on the events subject of the call `event` names (a parked call's progress goes to the request waiting on it). */
  publishProgress(event: ProgressEvent): void;
  /** Absent when this worker has no job queue. */
  submitJob?: JobSubmitter;
  /** Sessions per caller credentials (absent: calls with client credentials are refused). */
  credentials?: CredentialPools;
  /** Per-upstream bounds on running and waiting calls. */
  limiter?: CallLimiter;
  /** Told which catalog tool the call names, once it is found (metrics label calls by it). */
  onResolved?: (entry: CatalogTool) => void;
  /** Server-to-client requests (absent: calls never ask their client for input). */
  interaction?: CallInteractionDeps;
}

/** What a worker needs to let an upstream ask a call's client for input. */
export interface CallInteractionDeps {
  states: RequestStates;
  /** How long a client may take to answer (`input_timeout_ms`). */
  inputWaitMs: number;
  /** Asks the call's client over the bus (push mode); closed when the call ends. */
  push(): PushAsker;
  /** Serves retries of the parked call from any worker until it ends; returns the way to stop. */
  park(parked: ParkedCall, abort: AbortController): () => void;
  /** Hands a 2026 client's answers to the worker holding parked call `retry.callId`, and returns its next step. */
  resume(retry: ResumeTarget, waitMs: number, signal: AbortSignal): Promise<CallOutcome>;
  /** Passes the upstream's log messages during the call on to its caller (a call with `interaction.logLevel`). */
  log: (params: Record<string, unknown>) => void;
}

/**
 * A finished call (`result`, after `events` progress events), one that became a job (`task`),
 * or one whose upstream asks the client for input first (`inputRequired`, 2026 clients).
 */
export type CallOutcome = { result: Record<string, unknown>; events: number } | { task: TaskInfo } | { inputRequired: InputRequired; events: number };

/** Whether the call goes the interactive way: its caller can answer input, or wants the upstream's log messages (either era). */
/** An interactive call as the worker makes it, but for how its client is asked. */
type SharedInteractiveCall = Omit<InteractiveToolCall, 'ask' | 'onPause' | 'passThrough' | 'legacyClient' | 'resume'>;

/** The `ask` of calls whose client the worker does not ask itself (it answers nothing, or the upstream's rounds pass through to it). */
const notAskedHere = (): Promise<never> => Promise.reject(new McpbusError(ErrorCode.Internal, 'this call does not ask its client through the worker'));

const isInteractive = (req: CallToolRequest): boolean => declaresInputCapability(req.interaction?.capabilities) || req.interaction?.logLevel !== undefined;

/** A parked call's step as the outcome its client is answered with, after `events` progress events. */
export function outcomeOfStep(step: ParkedStep, events: number): CallOutcome {
  if ('error' in step) throw step.error;
  return 'result' in step ? { result: step.result, events } : { inputRequired: step.inputRequired, events };
}

/** A tool execution error (`isError: true`), the shape MCP uses for bad arguments since 2025-11-25. */
function toolError(text: string): Record<string, unknown> {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Runs one `tools/call` for `principal`: resolve the exposed name and validate the arguments, then either call
 * the upstream on a pooled session (forwarding its progress) or, for a call the client asked to
 * run as a task or the config runs as a job, hand it to the job queue. A bad call never becomes
 * a job. Never retries: a call may have side effects.
 */
export async function runCall(req: CallToolRequest, principal: Pick<Principal, 'owner' | 'access'>, sessions: ServerSessions, signal: AbortSignal, deps: RunCallDeps): Promise<CallOutcome> {
  const { owner, access } = principal;
  const server = sessions.server;
  const remaining = (): number => req.deadlineAt - Date.now() - REPLY_MARGIN_MS;
  if (remaining() <= 0) throw new McpbusError(ErrorCode.Timeout, `call of ${req.name} reached its deadline before it started`);

  const entry = await deps.catalog.find(sessions, req.name, Math.min(remaining(), server.timeoutMs), req.byUpstreamName === true);
  // A key limited to some of this server's tools is told the same for a tool it may not use as
  // for one that does not exist.
  if (access.tools.has(server.name) && (entry === undefined || !allowsTool(access, server.name, entry.upstreamName)))
    throw new McpbusError(ErrorCode.NotPermitted, `Tool ${req.name} is not permitted for this key`);
  if (entry === undefined) throw new McpbusError(ErrorCode.UnknownTool, `Unknown tool: ${req.name}`, { data: { server: server.name } });
  deps.onResolved?.(entry);

  const args = req.arguments ?? {};
  // Bus callers skip the ingress's body checks: arguments that could overflow a recursive schema are refused here too.
  if (nestsDeeperThan(args)) throw new McpbusError(ErrorCode.InvalidParams, `the arguments of ${req.name} nest deeper than ${MAX_JSON_DEPTH} levels`);
  const check = deps.validator.check(entry.tool.inputSchema, args);
  // An input schema the gateway refused to apply (over its limits): no call of the tool can be
  // checked, so none goes through. A tool error, not invalid arguments: the upstream must fix it.
  if (!check.ok && check.schemaRefused === true)
    return { result: toolError(`Tool ${req.name} cannot be called: ${check.problems.join('; ')} (the schema is published by upstream server "${server.name}")`), events: 0 };
  if (!check.ok) {
    const result = toolError(`Invalid arguments for tool ${req.name}:\n${check.problems.map((p) => `- ${p}`).join('\n')}`);
    // Marks the error as the gateway's own, so REST callers can get a 400 instead of a result.
    result['_meta'] = { [INVALID_ARGUMENTS_META_KEY]: check.problems };
    return { result, events: 0 };
  }

  // An upstream's -32042 cannot reach a 2026 client: it gets a round of URL elicitations instead
  // (url-elicitation.ts). Any other failure, or a 2025 client's, is thrown as it is.
  const urlRoundOrRethrow = (failure: unknown, events: number): CallOutcome => {
    if (deps.interaction === undefined || req.interaction?.mode !== 'mrtr' || !isUrlElicitationRequired(failure)) throw failure;
    const { states, inputWaitMs } = deps.interaction;
    const round = { server: server.name, tool: entry.upstreamName, name: req.name, capabilities: req.interaction.capabilities, expiresAt: Date.now() + inputWaitMs, seal: (state: RequestState) => states.seal(owner, state) };
    return { inputRequired: urlElicitationRound(failure, round), events };
  };

  // A 2026 client's retry with the input its upstream asked for: for a parked call, handed to it;
  // for a passed-through round, the answers and the upstream's own state go upstream below.
  let resume: { inputResponses: Record<string, unknown>; requestState?: string } | undefined;
  if (req.requestState !== undefined) {
    if (deps.interaction === undefined) throw new McpbusError(ErrorCode.InvalidParams, 'this worker takes no requestState');
    const state = deps.interaction.states.open(owner, req.requestState);
    if (state.s !== server.name || state.t !== entry.upstreamName) throw new McpbusError(ErrorCode.InvalidParams, `Invalid requestState: it was issued for another tool than ${req.name}`);
    // The user's answers to the URLs an upstream refused the call for: a decline ends the call,
    // acceptance makes it again as a new call (the tool did not run the first time).
    if (state.k === 'url') return declinedUrlRound(state, req.inputResponses ?? {}, req.name) ?? runCall(asNewCall(req), principal, sessions, signal, deps);
    // Takes no upstream slot: the parked call holds its own while it lives, and one taken here
    // could wait on the very call it resumes.
    if (state.k === 'park')
      return deps.interaction.resume({ callId: state.c, round: state.r, inputResponses: req.inputResponses ?? {}, ...(req.progress ? { progressCallId: req.callId } : {}) }, remaining(), signal).catch((failure: unknown) => urlRoundOrRethrow(failure, 0));
    resume = { inputResponses: req.inputResponses ?? {}, ...(state.u === undefined ? {} : { requestState: state.u }) };
  }

  if ((req.task !== undefined && req.task.onlyIfJob !== true) || runsAsJob(server, entry)) {
    if (deps.submitJob === undefined) throw new McpbusError(ErrorCode.QueueUnavailable, 'This worker has no job queue, so the call cannot run as a job');
    return { task: await deps.submitJob(req, owner, server, entry, args) };
  }

  // A caller's own credentials get sessions of their own; the catalog above is the server's.
  let callSessions = sessions;
  let release = (): void => undefined;
  // A parked call goes on after this request is answered, on the same sessions: it releases them.
  let releaseLater = false;
  if (req.upstreamHeaders !== undefined) {
    if (deps.credentials === undefined) throw new McpbusError(ErrorCode.InvalidParams, 'client credentials are not accepted here');
    ({ sessions: callSessions, release } = deps.credentials.use(sessions, req.upstreamHeaders));
  }
  let seq = 0;
  const upstreamCall = () => ({
    upstreamName: entry.upstreamName,
    arguments: args,
    signal,
    // Measured when the call starts: time spent waiting for a slot counts against the deadline.
    timeoutMs: Math.max(1, Math.min(server.timeoutMs, remaining())),
    keepUpstreamUris: req.byUpstreamName === true,
    ...(req.progress
      ? {
          progressToken: `mcpbus-${req.callId}`,
          onProgress: (p: { progress: number; total?: number; message?: string }) => {
            seq += 1;
            deps.publishProgress({ v: 1, type: 'progress', callId: req.callId, seq, ...p });
          },
        }
      : {}),
  });
  const interaction = deps.interaction;
  let parkedOutcome: CallOutcome | undefined;
  const call = async (slot?: CallSlot): Promise<Record<string, unknown>> => {
    // A retry with a requestState goes the interactive way even without capabilities: its answers must reach the upstream.
    if (interaction === undefined || (req.requestState === undefined && (req.interaction === undefined || !isInteractive(req)))) {
      return observeUpstreamCall('worker', server.name, entry.upstreamName, () => callUpstreamTool(callSessions, upstreamCall()));
    }
    const capabilities = req.interaction?.capabilities ?? {};
    const logLevel = req.interaction?.logLevel;
    // What every way below shares. The caller's log level goes upstream with every call it makes
    // (in the upstream's era), and the messages back to it.
    const shared: SharedInteractiveCall = { ...upstreamCall(), capabilities, owner, ...(logLevel === undefined ? {} : { logLevel, onLog: interaction.log }) };
    if (req.interaction?.mode === 'push') {
      const asker = interaction.push();
      try {
        const outcome = await observeUpstreamCall('worker', server.name, entry.upstreamName, async () => {
          const done = await callUpstreamInteractive(callSessions, { ...shared, ask: asker.ask, onPause: () => asker.pause(), passThrough: false, legacyClient: true });
          return 'result' in done ? done.result : {};
        });
        return outcome;
      } finally {
        asker.close();
      }
    }
    // A 2026 client that can answer nothing (it only asked for log messages): there is no round to
    // park for; the call runs on a session of its own, for its log messages only.
    if (req.requestState === undefined && !declaresInputCapability(capabilities)) {
      const done = await callUpstreamInteractive(callSessions, { ...shared, ask: notAskedHere, passThrough: false, legacyClient: false });
      return 'result' in done ? done.result : {};
    }
    // A 2026 client: a 2026-era upstream's rounds pass through; a 2025-era upstream's call is parked here.
    const era = (await callSessions.acquire()).getProtocolEra();
    if (era === 'modern') {
      const done = await callUpstreamInteractive(callSessions, { ...shared, ask: notAskedHere, passThrough: true, legacyClient: false, ...(resume === undefined ? {} : { resume }) });
      if ('result' in done) return done.result;
      const { inputRequests, requestState: upstreamState } = done.inputRequired;
      const sealed = interaction.states.seal(owner, { k: 'up', s: server.name, t: entry.upstreamName, ...(upstreamState === undefined ? {} : { u: upstreamState }), x: Date.now() + interaction.inputWaitMs });
      parkedOutcome = { inputRequired: { inputRequests, requestState: sealed }, events: seq };
      return {};
    }
    parkedOutcome = await park(shared, slot);
    return 'result' in parkedOutcome ? parkedOutcome.result : {};
  };
  /**
   * Runs the call in the background on a session of its own; its client answers by retrying. It
   * keeps its upstream slot (`slot`) until the upstream call ends, however many rounds that takes.
   * Its log messages (`shared.onLog`) reach the first request only, until that request is
   * answered: they go on the first request's subject, which nobody hears after the first round.
   */
  const park = async (shared: SharedInteractiveCall, slot: CallSlot | undefined): Promise<CallOutcome> => {
    const deps2 = interaction as CallInteractionDeps;
    const abort = new AbortController();
    const onCallerAbort = (): void => abort.abort(signal.reason);
    signal.addEventListener('abort', onCallerAbort, { once: true });
    const progress = createParkedProgress((event) => deps.publishProgress(event), req.callId, req.progress);
    const parked = createParkedCall(
      (round) => deps2.states.seal(owner, { k: 'park', s: server.name, t: entry.upstreamName, c: req.callId, r: round, x: Date.now() + deps2.inputWaitMs }),
      deps2.inputWaitMs,
      progress,
      (reason) => abort.abort(reason),
    );
    let unpark: () => void;
    try {
      unpark = deps2.park(parked, abort);
    } catch (err: unknown) {
      // Not parked (the NATS connection is closing): nothing holds the call, or its slot.
      signal.removeEventListener('abort', onCallerAbort);
      throw err;
    }
    const freeSlot = slot?.keep() ?? ((): void => undefined);
    // Each round may wait for a person: the upstream call may take that long on top of its own timeout.
    const budget = Math.min(2_147_000_000, server.timeoutMs + deps2.inputWaitMs * MAX_INPUT_ROUNDS);
    void callUpstreamInteractive(callSessions, { ...shared, progressToken: progress.token, onProgress: progress.onProgress, signal: abort.signal, timeoutMs: budget, ask: parked.ask, passThrough: false, legacyClient: false }).then(
      (done) => parked.settle({ result: 'result' in done ? done.result : {} }),
      (err: unknown) => parked.settle({ error: err instanceof McpbusError ? err : new McpbusError(ErrorCode.Internal, 'the parked call failed') }),
    ).finally(() => {
      signal.removeEventListener('abort', onCallerAbort);
      // The caller's credential sessions, and the upstream slot, were in use until now.
      release();
      freeSlot();
      // Kept until its last step was handed out (or nobody came for it).
      setTimeout(unpark, deps2.inputWaitMs).unref();
    });
    releaseLater = true;
    const step = await parked.next(remaining());
    // The caller's request is answered: the call no longer ends with it.
    signal.removeEventListener('abort', onCallerAbort);
    if (!('inputRequired' in step)) unpark();
    if ('error' in step && step.error.code === ErrorCode.Timeout) abort.abort(step.error);
    return outcomeOfStep(step, progress.published());
  };
  // Only failures that say something about the server count toward its circuit breaker: not a
  // caller's own credentials being refused, nor a caller's deadline shorter than the server's.
  // (The ingress sets the server's own timeout as the deadline; a second covers transit and margins.)
  const ownFailure = req.upstreamHeaders === undefined && remaining() + 1_000 >= server.timeoutMs;
  const limits = { maxConcurrent: server.maxConcurrentCalls, maxQueued: server.maxQueuedCalls, breakAfter: ownFailure ? server.circuitBreakerFailures : 0 };
  const wait = { signal, waitMs: remaining(), timeoutMessage: `call of ${req.name} waited for a free slot of upstream server "${server.name}" until its deadline` };
  try {
    const result = await (deps.limiter === undefined ? call() : deps.limiter.run(server.name, limits, wait, call));
    if (parkedOutcome !== undefined) return parkedOutcome;
    return { result, events: seq };
  } catch (failure: unknown) {
    // Cancelled by the caller or by a shutdown: say which.
    if (signal.aborted && signal.reason instanceof McpbusError) throw signal.reason;
    return urlRoundOrRethrow(failure, seq);
  } finally {
    if (!releaseLater) release();
  }
}
