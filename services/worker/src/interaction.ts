import { apiKeyHeaders, busRequest, decodeBody, encodeJson, type Msg, type NatsConnection } from '@mcpbus/bus';
import type { McpbusConfig } from '@mcpbus/config';
import { createSeal } from '@mcpbus/access';
import { ErrorCode, LOGGING_LEVELS, McpbusError, type CallLogEvent, type CallStreamPaused, type CancelMessage, type LoggingLevel, type InputAnswer, type InputRequestEvent, type InputRequests, type InputRequired, type ResumeRequest, type Subjects } from '@mcpbus/protocol';
import type { InputAsker } from '@mcpbus/upstream';
import type { ParkedProgress } from './parked-progress.js';
import type { Logger } from 'pino';

/**
 * What a `requestState` handed to a 2026 client stands for: a round of a 2026-era upstream passed
 * through (`up`, with the upstream's own state), input round `r` (1, 2, …) of call `c`, parked
 * on one worker waiting for the client's answers (`park`), or the URLs an upstream's `-32042`
 * asked the user to visit, under request keys `q`, with the upstream's message `m` (`url`, see
 * url-elicitation.ts). Sealed (AES-GCM) and bound to the caller's key, so a client can neither
 * forge nor read one, nor use another caller's.
 */
export type RequestState =
  | { k: 'up'; s: string; t: string; u?: string; x: number }
  | { k: 'park'; s: string; t: string; c: string; r: number; x: number }
  | { k: 'url'; s: string; t: string; q: string[]; m: string; x: number };

const STATE_BUCKET = 'mcpbus-request-state';

export interface RequestStates {
  seal(owner: string, state: RequestState): string;
  /** The state, or an error for anything this deployment did not hand to this caller, or that expired. */
  open(owner: string, text: string): RequestState;
}

/**
 * Keyed like the KV records (the salt key, else the master key). Without either there is no
 * caller to tell apart and no secret to key with: the state is sealed under a key derived from
 * the subject root, which catches corruption and expiry, not a determined forger.
 */
export function createRequestStates(config: McpbusConfig): RequestStates {
  const seal = createSeal(config.saltKey ?? config.masterKey ?? `mcpbus-open:${config.settings.subjectRoot}`);
  return {
    seal: (owner, state) => Buffer.from(seal.seal(STATE_BUCKET, owner, state)).toString('base64url'),
    open(owner, text) {
      const opened = seal.open(STATE_BUCKET, owner, Buffer.from(text, 'base64url').toString('utf8')) as RequestState | undefined;
      if (opened === undefined || typeof opened !== 'object' || (opened.k !== 'up' && opened.k !== 'park' && opened.k !== 'url'))
        throw new McpbusError(ErrorCode.InvalidParams, 'Invalid requestState: it was not issued by this gateway for this key (send back the requestState of the input_required result, unchanged)');
      if (opened.x < Date.now()) throw new McpbusError(ErrorCode.InvalidParams, 'Expired requestState: the input was not given in time; call the tool again');
      // States sealed before rounds were named (an older mcpbus, during an upgrade) cannot be checked against the call.
      if (opened.k === 'park' && !(Number.isInteger(opened.r) && opened.r >= 1)) throw new McpbusError(ErrorCode.InvalidParams, 'Invalid requestState: it names no input round (an older gateway issued it); call the tool again');
      return opened;
    },
  };
}

/**
 * Passes an upstream's log messages (`notifications/message` params) during call `callId` on to
 * its caller, whichever era that is: a CallLogEvent each, on the call's input subject, where the
 * ingress holding the client's request listens. Published before the call's reply, on the same
 * connection, so they reach that ingress before the result.
 */
export function createCallLog(nc: NatsConnection, subjects: Subjects, callId: string): (params: Record<string, unknown>) => void {
  return (params) => {
    const level = params['level'];
    if (typeof level !== 'string' || !(LOGGING_LEVELS as readonly string[]).includes(level)) return;
    const event: CallLogEvent = { v: 1, callId, level: level as LoggingLevel, ...(typeof params['logger'] === 'string' ? { logger: params['logger'].slice(0, 256) } : {}), ...('data' in params ? { data: params['data'] } : {}) };
    nc.publish(subjects.callInput(callId), encodeJson(event));
  };
}

export interface PushAsker {
  ask: InputAsker;
  /** Tells the caller's ingress that the upstream paused the call's stream (it closes the client's likewise). */
  pause(): void;
  close(): void;
}

/**
 * Asks the caller of `callId` on the bus (push mode): each request is published on the call's
 * input subject, where the ingress holding the client's stream relays it, and the answer comes
 * back on the call's answers subject from whichever ingress the client sent it to. Only answers
 * sent with the caller's own key count.
 */
export function createPushAsker(nc: NatsConnection, subjects: Subjects, callId: string, owner: string, ownerOf: (msg: Msg) => string | undefined, waitMs: () => number, log: Logger): PushAsker {
  const pending = new Map<string, { resolve: (answer: Record<string, unknown>) => void; reject: (err: McpbusError) => void }>();
  let subscribed: Promise<void> | undefined;
  const sub = nc.subscribe(subjects.callAnswers(callId), {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const answer = decodeBody<InputAnswer>(msg.data, 'InputAnswer');
        if (ownerOf(msg) !== owner) {
          log.warn({ callId }, 'an answer to a server-to-client request came with another key; ignored');
          return;
        }
        const waiting = pending.get(answer.key);
        if (waiting === undefined || answer.callId !== callId) return;
        pending.delete(answer.key);
        if (answer.error !== undefined) waiting.reject(new McpbusError(ErrorCode.BadRequest, `the client refused the upstream's request: ${answer.error.message} (${answer.error.code})`));
        else waiting.resolve(answer.result ?? {});
      } catch (error: unknown) {
        log.debug({ callId, err: error instanceof Error ? error.message : String(error) }, 'malformed input answer dropped');
      }
    },
  });
  return {
    async ask(requests: InputRequests) {
      // The subscription must be in place at the server before the client can answer.
      subscribed ??= nc.flush();
      await subscribed;
      const ms = waitMs();
      if (ms <= 0) throw new McpbusError(ErrorCode.Timeout, 'the call reached its deadline before the client could be asked for input');
      const keys = Object.keys(requests);
      const answers = await Promise.all(
        keys.map(
          (key) =>
            new Promise<Record<string, unknown>>((resolve, reject) => {
              const request = requests[key] as InputRequests[string];
              const timer = setTimeout(() => {
                pending.delete(key);
                reject(new McpbusError(ErrorCode.Timeout, `the client did not answer the upstream's ${request.method} within ${ms} ms`));
              }, ms);
              pending.set(key, {
                resolve: (answer) => {
                  clearTimeout(timer);
                  resolve(answer);
                },
                reject: (error) => {
                  clearTimeout(timer);
                  reject(error);
                },
              });
              const event: InputRequestEvent = { v: 1, callId, key, method: request.method, deadlineAt: Date.now() + ms, ...(request.params === undefined ? {} : { params: request.params }) };
              nc.publish(subjects.callInput(callId), encodeJson(event));
            }),
        ),
      );
      return Object.fromEntries(keys.map((key, i) => [key, answers[i]]));
    },
    pause() {
      const event: CallStreamPaused = { v: 1, callId, paused: true };
      nc.publish(subjects.callInput(callId), encodeJson(event));
    },
    close() {
      sub.unsubscribe();
      for (const waiting of pending.values()) waiting.reject(new McpbusError(ErrorCode.Cancelled, 'the call ended'));
      pending.clear();
    },
  };
}

/** What a parked call does next, as its client is told. */
export type ParkedStep = { result: Record<string, unknown> } | { inputRequired: InputRequired } | { error: McpbusError };

/**
 * A call on a 2025-era upstream whose 2026 client is asked for input by `input_required` rounds:
 * the upstream call goes on in this worker (the upstream pushed its request on a session of the
 * call's own, and waits for the answer), and each retry of the client is forwarded here over
 * NATS (`calls.<id>.resume`) from whichever worker it reached.
 */
export interface ParkedCall {
  /** Asks the client through `input_required` rounds, numbered 1, 2, … */
  readonly ask: InputAsker;
  /** Where the call's progress goes: to the request that answered the latest round. */
  readonly progress: ParkedProgress;
  /** The call's next step: the upstream's next request, its result, or its failure. */
  next(waitMs: number): Promise<ParkedStep>;
  /**
   * The client's answers to round `round`, from request `progressCallId` if it wants the call's
   * progress. Refused unless the call waits for exactly that round: a requestState used already,
   * or one of an earlier round, must not answer the round the call is in now.
   */
  answer(round: number, inputResponses: Record<string, unknown>, progressCallId?: string): void;
  /** The upstream call ended. */
  settle(step: { result: Record<string, unknown> } | { error: McpbusError }): void;
}

export function createParkedCall(stateOf: (round: number) => string, inputWaitMs: number, progress: ParkedProgress, onAbandoned: (reason: McpbusError) => void): ParkedCall {
  const steps: ParkedStep[] = [];
  let wake: (() => void) | undefined;
  /** The latest round the upstream asked for (0: none yet). */
  let round = 0;
  let pending: { keys: string[]; resolve: (answers: Record<string, unknown>) => void; reject: (err: McpbusError) => void; timer: NodeJS.Timeout } | undefined;
  const push = (step: ParkedStep): void => {
    steps.push(step);
    wake?.();
  };
  return {
    progress,
    ask(requests) {
      // One round at a time: a second request while the client has the first is refused (the
      // upstream hears an error for it), rather than lost.
      if (pending !== undefined) return Promise.reject(new McpbusError(ErrorCode.UpstreamError, 'the upstream asked for more input while the client still had a request to answer; mcpbus relays one round at a time'));
      return new Promise((resolve, reject) => {
        // A client that never comes back: the upstream's request fails, and so does the call.
        const timer = setTimeout(() => {
          pending = undefined;
          const reason = new McpbusError(ErrorCode.Timeout, `the client did not send its input within ${inputWaitMs} ms`);
          reject(reason);
          onAbandoned(reason);
        }, inputWaitMs);
        timer.unref();
        round += 1;
        pending = { keys: Object.keys(requests), resolve, reject, timer };
        push({ inputRequired: { inputRequests: requests, requestState: stateOf(round) } });
      });
    },
    async next(waitMs) {
      const deadline = Date.now() + waitMs;
      while (steps.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) return { error: new McpbusError(ErrorCode.Timeout, `the call did not go on within ${waitMs} ms`) };
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      return steps.shift() as ParkedStep;
    },
    answer(answered, inputResponses, progressCallId) {
      if (answered !== round)
        throw new McpbusError(ErrorCode.InvalidParams, `Stale requestState: it is for input round ${answered} of this call, which is at round ${round} now; answer with the requestState of the latest input_required result`);
      if (pending === undefined) throw new McpbusError(ErrorCode.InvalidParams, `Stale requestState: input round ${round} of this call was answered already; answer with the requestState of the latest input_required result`);
      const { keys, resolve, timer } = pending;
      pending = undefined;
      clearTimeout(timer);
      // Before the upstream hears the answers: what it reports next belongs to this request.
      progress.follow(progressCallId);
      const answers: Record<string, unknown> = {};
      for (const key of keys) answers[key] = inputResponses[key];
      resolve(answers);
    },
    settle(step) {
      if (pending !== undefined) {
        clearTimeout(pending.timer);
        pending.reject(new McpbusError(ErrorCode.Cancelled, 'the call ended'));
        pending = undefined;
      }
      push(step);
    },
  };
}


/** The parked calls of one worker, served over NATS, and the way to reach another worker's. */
export interface ParkedCalls {
  /** Serves `calls.<callId>.resume` for `parked` (answers only `owner`); returns the way to stop. */
  park(callId: string, owner: string, parked: ParkedCall, abort: AbortController): () => void;
  /**
   * A 2026 client's answers for a round of parked call `retry.callId`, wherever it is; its next
   * step comes back, after `events` progress events published for `retry.progressCallId`. The
   * retry's `signal` aborting (its client closed the stream: a cancel) cancels the parked call.
   */
  resume(retry: ResumeTarget, waitMs: number, key: string | undefined, signal?: AbortSignal): Promise<{ step: ParkedStep; events: number }>;
  /** Ends every parked call of this worker (shutdown). */
  close(): void;
}

/** What a retry of a parked call names: the call, the round it answers, its answers, and the request that wants the progress. */
export type ResumeTarget = Omit<ResumeRequest, 'v' | 'deadlineAt'>;

/** How long a resumed call's next step may take beyond the asker's deadline, for the reply to travel. */
const RESUME_MARGIN_MS = 50;

export function createParkedCalls(nc: NatsConnection, subjects: Subjects, ownerOf: (msg: Msg) => string, log: Logger): ParkedCalls {
  const parkedHere = new Map<string, { abort: AbortController; stop: () => void }>();
  const replyOf = (step: ParkedStep, events: number): Record<string, unknown> => {
    if ('error' in step) return { ok: false, error: step.error.toBody() };
    return 'result' in step ? { ok: true, result: step.result, events } : { ok: true, inputRequired: step.inputRequired, events };
  };
  return {
    park(callId, owner, parked, abort) {
      const sub = nc.subscribe(subjects.callResume(callId), {
        callback: (err, msg) => {
          if (err !== null) return;
          void (async () => {
            let step: ParkedStep;
            try {
              if (ownerOf(msg) !== owner) throw new McpbusError(ErrorCode.InvalidParams, 'Invalid requestState: it was not issued for this key');
              const request = decodeBody<ResumeRequest>(msg.data, 'ResumeRequest');
              parked.answer(request.round, request.inputResponses, request.progressCallId);
              step = await parked.next(Math.max(1, request.deadlineAt - Date.now() - RESUME_MARGIN_MS));
              // Nobody will read what the call does next: it is stopped, and its outcome is unknown.
              if ('error' in step && step.error.code === ErrorCode.Timeout) {
                abort.abort(step.error);
                step = { error: new McpbusError(ErrorCode.OutcomeUnknown, `${step.error.message}; the call was stopped, and what the tool did meanwhile is unknown`) };
              }
            } catch (error: unknown) {
              step = { error: error instanceof McpbusError ? error : new McpbusError(ErrorCode.Internal, 'resuming the call failed') };
            }
            // Counted now: every progress event of this request was published before its reply.
            msg.respond(encodeJson(replyOf(step, parked.progress.published())));
          })().catch((error: unknown) => log.warn({ callId, err: error instanceof Error ? error.message : String(error) }, 'resume failed'));
        },
      });
      // A cancel of the call (its first request's, or one a retry sends on its behalf) stops it.
      const cancels = nc.subscribe(subjects.callCancel(callId), {
        callback: (err) => {
          if (err === null) abort.abort(new McpbusError(ErrorCode.Cancelled, 'the client cancelled the request'));
        },
      });
      const stop = (): void => {
        sub.unsubscribe();
        cancels.unsubscribe();
        parkedHere.delete(callId);
      };
      parkedHere.set(callId, { abort, stop });
      return stop;
    },
    async resume(retry, waitMs, key, signal) {
      const { callId } = retry;
      const body: ResumeRequest = { v: 1, ...retry, deadlineAt: Date.now() + waitMs };
      const headers = apiKeyHeaders(key);
      const cancel = (): void => {
        const message: CancelMessage = { v: 1, callId, reason: 'the client cancelled the request' };
        nc.publish(subjects.callCancel(callId), encodeJson(message));
      };
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        const reply = (await busRequest<Record<string, unknown>>(nc, subjects.callResume(callId), body, { timeoutMs: waitMs, what: 'the call waiting for this input', ...(headers === undefined ? {} : { headers }) })) as unknown as Record<string, unknown>;
        const events = typeof reply['events'] === 'number' ? reply['events'] : 0;
        if (reply['inputRequired'] !== undefined) return { step: { inputRequired: reply['inputRequired'] as InputRequired }, events };
        return { step: { result: (reply['result'] ?? {}) as Record<string, unknown> }, events };
      } catch (err: unknown) {
        if (err instanceof McpbusError && err.code === ErrorCode.NoWorkers)
          throw new McpbusError(ErrorCode.InvalidParams, 'The call waiting for this input is gone (it waited longer than input_timeout_ms, or its worker stopped); call the tool again');
        throw err;
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
    },
    close() {
      for (const { abort, stop } of [...parkedHere.values()]) {
        abort.abort(new McpbusError(ErrorCode.Cancelled, 'the worker shut down while the call waited for input'));
        stop();
      }
    },
  };
}
