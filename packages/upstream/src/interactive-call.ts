import { CLIENT_CAPABILITIES_META_KEY, LOG_LEVEL_META_KEY, isInputRequiredResult, type Client } from '@modelcontextprotocol/client';
import { ErrorCode, INPUT_METHODS, McpbusError, type InputMethod, type InputRequests } from '@mcpbus/protocol';
import { requestFailure, type UpstreamToolCall } from './call-tool.js';
import { namespaceToolResult } from './namespace-content.js';
import { scrubResult } from './scrub-result.js';
import type { DedicatedLease, ServerSessions } from './server-sessions.js';

/** Rounds of input one call may ask for before mcpbus gives up on it (the SDK's own default is 8–10). */
export const MAX_INPUT_ROUNDS = 8;

/** Asks the call's client for input; resolves with its answers, keyed as asked. */
export type InputAsker = (requests: InputRequests) => Promise<Record<string, unknown>>;

export interface InteractiveToolCall extends UpstreamToolCall {
  /** The client capabilities of the caller (only elicitation, sampling and roots are declared upstream). */
  capabilities: Record<string, unknown>;
  ask: InputAsker;
  /**
   * A 2026-era upstream that returns `input_required` hands it back (`inputRequired`) rather
   * than asking through `ask`: the client answers and retries (MRTR pass-through).
   */
  passThrough: boolean;
  /** A retry of a passed-through round: the client's answers and the upstream's own requestState. */
  resume?: { inputResponses: Record<string, unknown>; requestState?: string };
  /**
   * The level of log messages the caller asked for (a 2025 client's `logging/setLevel`, a 2026
   * client's per-request `_meta`). The upstream is told it in its own era: a 2025-era session of
   * the call's own is opened with `logging/setLevel`; a 2026-era upstream gets it in the request's
   * `_meta`, also on a session of the call's own. Its log messages go to `onLog`.
   */
  logLevel?: string;
  onLog?: (params: Record<string, unknown>) => void;
  /**
   * The upstream closed the call's SSE stream before answering and the session resumes it
   * (SEP-1699 polling; 2025-era sessions only): the caller's own stream can be paused likewise.
   */
  onPause?: () => void;
  /** The caller's key fingerprint: dedicated sessions are reused only by the same owner. */
  owner: string;
  /**
   * The client speaks the 2025 era: the upstream is spoken to in that era too (on a session of
   * the call's own), so it asks as it would ask that client, even when it also speaks 2026.
   */
  legacyClient: boolean;
}

export type InteractiveOutcome = { result: Record<string, unknown> } | { inputRequired: { inputRequests: InputRequests; requestState?: string } };

const isInputMethod = (method: unknown): method is InputMethod => typeof method === 'string' && (INPUT_METHODS as readonly string[]).includes(method);

/** The upstream's requests, checked: a request mcpbus cannot relay fails the call rather than reaching the client. */
function inputRequestsOf(server: string, raw: Record<string, unknown>): InputRequests {
  const requests: InputRequests = {};
  for (const [key, value] of Object.entries(raw)) {
    const request = value as { method?: unknown; params?: unknown } | undefined;
    if (!isInputMethod(request?.method)) throw new McpbusError(ErrorCode.UpstreamError, `upstream server "${server}" asked the client for "${String(request?.method)}", which mcpbus does not relay`);
    requests[key] = { method: request.method, ...(typeof request.params === 'object' && request.params !== null ? { params: request.params as Record<string, unknown> } : {}) };
  }
  return requests;
}

/** The parts of each input capability that say what a client can answer (their values are not passed on). */
const CAPABILITY_PARTS: Readonly<Record<string, readonly string[]>> = { elicitation: ['form', 'url'], sampling: ['tools', 'context'], roots: ['listChanged'] };

/**
 * The capabilities an upstream may see: what lets it ask for input, nothing else of the client's,
 * in a canonical form (known parts only), so the set of shapes is small and sessions keyed by it
 * are shared.
 */
export function inputCapabilities(capabilities: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const [name, parts] of Object.entries(CAPABILITY_PARTS)) {
    const declared = capabilities[name];
    if (declared === undefined || declared === null) continue;
    const canonical: Record<string, unknown> = {};
    for (const part of parts) {
      const value = (declared as Record<string, unknown>)[part];
      if (value !== undefined && value !== false) canonical[part] = part === 'listChanged' ? true : {};
    }
    picked[name] = canonical;
  }
  return picked;
}

/**
 * A `tools/call` whose caller can answer server-to-client requests. A 2026-era upstream asks by
 * returning `input_required`: its rounds are handed back (`passThrough`) or answered through
 * `ask` and the call re-issued with `inputResponses` and the upstream's `requestState`. A
 * 2025-era upstream asks by pushing requests on its session, which cannot be told apart between
 * calls sharing a session: the call gets a session of its own (lent to one call at a time, reused
 * only by the same owner), declaring exactly the caller's capabilities, whose pushed requests go
 * through `ask`. A 2025 client's call is made in the 2025 era even to an upstream that speaks
 * 2026 too, so the upstream asks as it would ask that client directly. A call with a log level
 * runs on a session of its own in either era, so the log messages it gets are its own.
 */
export async function callUpstreamInteractive(sessions: ServerSessions, call: InteractiveToolCall): Promise<InteractiveOutcome> {
  const server = sessions.server.name;
  const capabilities = inputCapabilities(call.capabilities);
  const pooled = await sessions.acquire();
  const finish = (raw: Record<string, unknown>): InteractiveOutcome => {
    const result = scrubResult(raw);
    return { result: call.keepUpstreamUris === true ? result : namespaceToolResult(server, result) };
  };
  const { progressToken: token, onProgress } = call;
  const untrack = token !== undefined && onProgress !== undefined ? sessions.trackProgress(token, onProgress) : undefined;
  const meta: Record<string, unknown> = untrack === undefined ? {} : { progressToken: token };
  const started = Date.now();
  const remaining = (): number => Math.max(1, call.timeoutMs - (Date.now() - started));

  const pinnedModern = sessions.server.specVersion === '2026-07-28';
  if (pooled.getProtocolEra() === 'modern' && (!call.legacyClient || pinnedModern)) {
    // The caller's capabilities ride in the request envelope, so the upstream asks only for what it
    // can answer; so does its log level (a 2026 upstream must not log to a request without one).
    const envelope = { [CLIENT_CAPABILITIES_META_KEY]: capabilities, ...(call.logLevel === undefined ? {} : { [LOG_LEVEL_META_KEY]: call.logLevel }) };
    const params: Record<string, unknown> = { name: call.upstreamName, arguments: call.arguments, _meta: { ...meta, ...envelope } };
    if (call.resume !== undefined) {
      params['inputResponses'] = call.resume.inputResponses;
      if (call.resume.requestState !== undefined) params['requestState'] = call.resume.requestState;
    }
    let lease: DedicatedLease | undefined;
    let clean = false;
    let client: Client = pooled;
    try {
      // A 2026 upstream's notifications/message names no request, and the SDK client hands on
      // those of every request of a session alike (stdio has one pipe besides): on a shared
      // session one caller would get another's. A call with a log level has a session of its own.
      if (call.logLevel !== undefined) {
        lease = await sessions.leaseDedicated(call.owner, capabilities);
        if (call.onLog !== undefined) lease.handlers.onLog = call.onLog;
        client = lease.client;
      }
      for (let round = 0; ; round += 1) {
        const raw = (await client.request({ method: 'tools/call', params }, { signal: call.signal, timeout: remaining(), allowInputRequired: true } as never)) as Record<string, unknown>;
        if (!isInputRequiredResult(raw)) {
          clean = true;
          return finish(raw);
        }
        const inputRequests = inputRequestsOf(server, raw.inputRequests ?? {});
        if (call.passThrough) {
          clean = true;
          return { inputRequired: { inputRequests, ...(raw.requestState === undefined ? {} : { requestState: raw.requestState }) } };
        }
        if (round + 1 >= MAX_INPUT_ROUNDS) throw new McpbusError(ErrorCode.UpstreamError, `upstream server "${server}" still asked for input after ${MAX_INPUT_ROUNDS} rounds`);
        params['inputResponses'] = await call.ask(inputRequests);
        if (raw.requestState === undefined) delete params['requestState'];
        else params['requestState'] = raw.requestState;
      }
    } catch (err: unknown) {
      throw err instanceof McpbusError ? err : requestFailure(sessions, client, err, { timeoutMs: call.timeoutMs, aborted: call.signal.aborted });
    } finally {
      untrack?.();
      lease?.release(clean);
    }
  }

  let asked = 0;
  let lease: DedicatedLease | undefined;
  let clean = false;
  // Why asking the client failed (it never answered, the call was cancelled): the upstream only
  // hears an error for its request, and whatever it makes of it, the caller is told this.
  let askFailure: McpbusError | undefined;
  try {
    lease = await sessions.leaseDedicated(call.owner, capabilities, { legacy: call.legacyClient, ...(call.logLevel === undefined ? {} : { logLevel: call.logLevel }) });
    if (call.onLog !== undefined) lease.handlers.onLog = call.onLog;
    // A resume from the last event of this call's stream is the upstream pausing it (a resume of
    // the session's standalone GET stream carries another id).
    let lastEventId: string | undefined;
    const { onPause } = call;
    if (onPause !== undefined) lease.handlers.onResume = (id) => id === lastEventId && onPause();
    lease.handlers.onRequest = async (method, params) => {
      asked += 1;
      if (asked > MAX_INPUT_ROUNDS) throw (askFailure = new McpbusError(ErrorCode.UpstreamError, `upstream server "${server}" asked for input more than ${MAX_INPUT_ROUNDS} times`));
      // The upstream's own progress token for this request means nothing to the client.
      const { _meta: _upstreamMeta, ...rest } = params;
      const key = `${method.split('/')[0] ?? 'input'}${asked}`;
      try {
        const answer = (await call.ask({ [key]: { method, params: rest } }))[key];
        if (typeof answer !== 'object' || answer === null) throw new McpbusError(ErrorCode.BadRequest, `the client did not answer the upstream's ${method}`);
        return answer as Record<string, unknown>;
      } catch (err: unknown) {
        askFailure = err instanceof McpbusError ? err : new McpbusError(ErrorCode.Internal, `asking the client failed: ${String(err)}`);
        throw askFailure;
      }
    };
    const params: Record<string, unknown> = { name: call.upstreamName, arguments: call.arguments };
    if (untrack !== undefined) params['_meta'] = meta;
    const raw = (await lease.client.request({ method: 'tools/call', params }, { signal: call.signal, timeout: remaining(), onresumptiontoken: (id: string) => (lastEventId = id) })) as Record<string, unknown>;
    if (askFailure !== undefined) throw askFailure;
    clean = true;
    return finish(raw);
  } catch (err: unknown) {
    if (askFailure !== undefined) throw askFailure;
    if (err instanceof McpbusError) throw err;
    throw requestFailure(sessions, lease?.client ?? pooled, err, { timeoutMs: call.timeoutMs, aborted: call.signal.aborted });
  } finally {
    untrack?.();
    // A session whose call ended any other way may still be busy with it: it is not lent again.
    lease?.release(clean);
  }
}
