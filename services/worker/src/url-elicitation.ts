import { ErrorCode, McpbusError, type CallToolRequest, type InputRequests, type InputRequired } from '@mcpbus/protocol';
import type { RequestState } from './interaction.js';

/**
 * URL-mode elicitation for 2026-07-28 clients.
 *
 * A 2025-era upstream says "the user must first open this URL" (to link an account, pay, sign in
 * elsewhere) by failing `tools/call` with `-32042` (URLElicitationRequiredError), whose
 * `data.elicitations` are URL-mode elicitation requests. A 2025-era client gets that error as it
 * is. A 2026-07-28 client cannot: its revision has no `-32042`. It gets an `input_required` round
 * instead, one URL-mode `elicitation/create` per elicitation, with a requestState sealed like
 * every other (bound to the caller's key, expiring after `input_timeout_ms`). Its retry decides:
 *
 * - every request accepted: the call is made again, as a new call. The upstream refused to run
 *   the tool, so this runs it for the first time, once, on the client's own retry (what a 2025
 *   client does itself after the user is done at the URL). If the user is not done yet, the
 *   upstream refuses again and the client gets another round.
 * - one declined or cancelled: nothing is sent upstream. The client gets the upstream's message
 *   as a tool error (`isError`), as a tool that asked and heard "no" answers: the model sees
 *   why the tool did not run and can tell the user.
 */

/** URLElicitationRequiredError: 2025-11-25 only, never emitted in 2026-07-28. */
export const URL_ELICITATION_REQUIRED = -32042;

/** More URLs than this in one refusal is not a request a person can follow: the call fails. */
const MAX_ELICITATIONS = 16;
/** Longest upstream message kept in the state (it is told to the client if the user declines). */
const MAX_MESSAGE_CHARS = 1_000;

type UrlState = Extract<RequestState, { k: 'url' }>;

interface UrlElicitation {
  url: string;
  message: string;
}

/** Whether a call failed because its upstream answered `-32042`. */
export function isUrlElicitationRequired(failure: unknown): failure is McpbusError {
  return failure instanceof McpbusError && failure.code === ErrorCode.UpstreamError && failure.data?.['jsonRpcCode'] === URL_ELICITATION_REQUIRED;
}

/** Whether client capabilities declare URL-mode elicitation (`elicitation.url`). */
function declaresUrlElicitation(capabilities: Record<string, unknown>): boolean {
  const elicitation = capabilities['elicitation'];
  if (typeof elicitation !== 'object' || elicitation === null) return false;
  const url = (elicitation as Record<string, unknown>)['url'];
  return url !== undefined && url !== false;
}

/** A web address a person can be sent to: mcpbus builds these requests itself, so no `javascript:`, `data:` or `file:`. */
const isUrl = (value: unknown): value is string => {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'https:' || protocol === 'http:';
};

/** The error's `data.elicitations`, if every one is a URL-mode request a client can act on. */
function elicitationsOf(data: unknown): UrlElicitation[] | undefined {
  const list = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)['elicitations'] : undefined;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_ELICITATIONS) return undefined;
  const elicitations: UrlElicitation[] = [];
  for (const entry of list as unknown[]) {
    const { mode, url, message } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    if ((mode !== undefined && mode !== 'url') || !isUrl(url) || typeof message !== 'string') return undefined;
    elicitations.push({ url, message });
  }
  return elicitations;
}

/** The upstream's own message (the SDK error it answered with), without mcpbus's prefix where it is at hand. */
function upstreamMessage(failure: McpbusError): string {
  // Over the bus (a parked call's round) the cause is lost, and only mcpbus's own wording is left.
  const own = failure.cause instanceof Error ? failure.cause.message : failure.message.replace(/^upstream server "[^"]*" returned an error: /, '');
  return own.length > MAX_MESSAGE_CHARS ? `${own.slice(0, MAX_MESSAGE_CHARS)}…` : own;
}

export interface UrlRound {
  /** The server and the tool's upstream name, which the state is bound to. */
  server: string;
  tool: string;
  /** The name the client called the tool by, for messages. */
  name: string;
  /** What the client declared (2026: with this very request). */
  capabilities: Record<string, unknown>;
  expiresAt: number;
  seal(state: UrlState): string;
}

/**
 * The round a 2026 client gets for an upstream's `-32042`. A client that did not declare
 * URL-mode elicitation gets `-32021` (MissingRequiredClientCapability) naming it, as MCP answers
 * any request whose input needs a capability the client lacks. The upstream's `elicitationId`s
 * are left out: 2026-07-28 removed them (with `notifications/elicitation/complete`, which they
 * keyed), so ids of two upstreams never meet at a 2026 client; the request keys tell a round's
 * URLs apart.
 */
export function urlElicitationRound(failure: McpbusError, round: UrlRound): InputRequired {
  const { server, name } = round;
  const message = upstreamMessage(failure);
  if (!declaresUrlElicitation(round.capabilities))
    throw new McpbusError(
      ErrorCode.MissingClientCapability,
      `Tool ${name} needs the user to open a URL first (upstream server "${server}": ${message}), and this client did not declare URL-mode elicitation: declare capabilities.elicitation.url to be asked, or use a client that can`,
      { data: { server, requiredCapabilities: { elicitation: { url: {} } } } },
    );
  const elicitations = elicitationsOf(failure.data?.['upstreamData']);
  if (elicitations === undefined)
    throw new McpbusError(ErrorCode.UpstreamError, `upstream server "${server}" answered that the user must open a URL first (-32042), but named no URL-mode elicitation mcpbus can relay (at most ${MAX_ELICITATIONS}, each with a url and a message): ${message}`, { data: { server } });
  const inputRequests: InputRequests = {};
  elicitations.forEach((e, i) => {
    inputRequests[`url${i + 1}`] = { method: 'elicitation/create', params: { mode: 'url', message: e.message, url: e.url } };
  });
  const requestState = round.seal({ k: 'url', s: server, t: round.tool, q: Object.keys(inputRequests), m: message, x: round.expiresAt });
  return { inputRequests, requestState };
}

/**
 * The client's answers to a URL round: `undefined` when the user accepted every request (the
 * call is to be made again), else the tool error the client gets. Answers missing or not shaped
 * as elicitation results are refused (`-32602`) before anything is decided.
 */
export function declinedUrlRound(state: UrlState, inputResponses: Record<string, unknown>, name: string): { result: Record<string, unknown>; events: number } | undefined {
  const actions = state.q.map((key) => {
    const action = (inputResponses[key] as { action?: unknown } | null | undefined)?.action;
    if (action !== 'accept' && action !== 'decline' && action !== 'cancel')
      throw new McpbusError(ErrorCode.InvalidParams, `inputResponses.${key} must answer the URL elicitation of the same key with action "accept", "decline" or "cancel"`);
    return action;
  });
  const refused = actions.find((action) => action !== 'accept');
  if (refused === undefined) return undefined;
  const why = refused === 'decline' ? 'declined to open' : 'cancelled rather than open';
  return { result: { content: [{ type: 'text', text: `${state.m}\n(Tool ${name} did not run: the user ${why} the URL upstream server "${state.s}" asked for.)` }], isError: true }, events: 0 };
}

/** The retry of a URL round as the new call it becomes: its answers and state were for mcpbus, not the upstream. */
export function asNewCall(req: CallToolRequest): CallToolRequest {
  const { requestState: _state, inputResponses: _answers, ...call } = req;
  return call;
}
