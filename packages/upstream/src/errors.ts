import { SSRF_REFUSAL_PREFIX } from '@mcpbus/access';
import { ProtocolError, SdkError, SdkErrorCode, SdkHttpError, StreamableHTTPClientTransport, type Client } from '@modelcontextprotocol/client';
import { ErrorCode, McpbusError, messageOf } from '@mcpbus/protocol';

const MAX_REASON_CHARS = 200;

/**
 * Why an upstream could not be reached, fit for clients: an HTTP failure is named by its status
 * only (its body is the upstream's and may say anything), other reasons are truncated.
 */
/** The SSRF guard's refusal somewhere in an error's cause chain (fetch reports it as "fetch failed"). */
export function ssrfRefusal(err: unknown): Error | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current instanceof Error; depth += 1) {
    if ((current as Error & { code?: unknown }).code === 'EMCPBUS_SSRF') return current;
    // A transport that wrapped the refusal's text only (the SSE transport does).
    const at = current.message.indexOf(SSRF_REFUSAL_PREFIX);
    if (at >= 0) return new Error(current.message.slice(at));
    current = current.cause;
  }
  return undefined;
}

function reasonOf(err: unknown): string {
  if (err instanceof SdkHttpError) return `it answered HTTP ${err.status}`;
  // Callers are not told which internal address the name resolved to; the log says (see server-sessions.ts).
  if (ssrfRefusal(err) !== undefined) return 'the SSRF guard refused the address it resolves to (the gateway log names it; an admin may allow it with mcpbus_settings.upstream_url_allowlist)';
  const reason = messageOf(err);
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
}

/**
 * Turns what an upstream call threw into a McpbusError that names the server. The upstream's
 * own JSON-RPC errors keep their code; transport failures become `upstream_unavailable`;
 * SDK timeouts become `upstream_timeout` (unless the caller aborted, which is `cancelled`).
 */
/** A JSON object (not an array), small enough to carry on the bus. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && JSON.stringify(value).length <= 16_384;
}

/** The upstream answered, but not in MCP: a result that fails the SDK's checks, or a body that is not JSON. */
function isMalformedAnswer(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    if (current instanceof SyntaxError || (current instanceof SdkError && current.code === SdkErrorCode.InvalidResult)) return true;
    current = current.cause;
  }
  return false;
}

export function upstreamFailure(server: string, err: unknown, context: { timeoutMs: number; aborted: boolean }): McpbusError {
  if (err instanceof McpbusError) return err;
  if (context.aborted) return new McpbusError(ErrorCode.Cancelled, `call to upstream server "${server}" was cancelled`, { cause: err });
  if (err instanceof ProtocolError)
    return new McpbusError(ErrorCode.UpstreamError, `upstream server "${server}" returned an error: ${err.message}`, {
      // The error's own data (a missing resource's uri, the capabilities a request needs) goes to the client too.
      data: { server, jsonRpcCode: err.code, ...(isPlainObject(err.data) ? { upstreamData: err.data } : {}) },
      cause: err,
    });
  if (isMalformedAnswer(err))
    return new McpbusError(ErrorCode.UpstreamError, `upstream server "${server}" answered with something that is not valid MCP: ${reasonOf(err)}`, { data: { server }, cause: err });
  if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout)
    return new McpbusError(ErrorCode.UpstreamTimeout, `upstream server "${server}" did not answer within ${context.timeoutMs} ms`, { data: { server }, cause: err });
  return new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server}" is unavailable: ${reasonOf(err)}`, { data: { server }, cause: err });
}

/**
 * True when a sessionful HTTP upstream rejected a request of an established session: it has
 * forgotten the session (typically after a restart) and the session must be opened anew. The
 * spec says 404; servers built on the 1.x SDK answer 400 ("No valid session ID provided").
 * Either way the upstream did not run the request.
 */
export function isSessionGone(err: unknown, client: Client): boolean {
  const transport = client.transport;
  const sessionful = transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined;
  return sessionful && err instanceof SdkHttpError && (err.status === 404 || err.status === 400);
}
