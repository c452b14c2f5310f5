import { NoRespondersError, RequestError, TimeoutError, type NatsConnection, type MsgHdrs } from '@nats-io/transport-node';
import { ErrorCode, McpbusError, type ErrorBody, messageOf } from '@mcpbus/protocol';
import { decodeBody, encodeJson } from './codec.js';
import { withTraceHeaders } from './trace-headers.js';

export interface BusRequestOptions {
  timeoutMs: number;
  /** Sent as they are, plus the active trace context (W3C `traceparent`), which is added to them. */
  headers?: MsgHdrs;
  /** Names what was asked, for error messages ("tools/list", "call of fixture-echo"). */
  what: string;
}

/**
 * Sends a request and unwraps the `{ ok, result | error }` reply. No responders becomes
 * `no_workers`, silence past the deadline becomes `timeout`, an error reply becomes the
 * McpbusError it describes.
 */
export interface OkReply<T> {
  ok: true;
  result: T;
  /** Progress events published before the reply (call replies only). */
  events?: number;
}

export async function busRequest<T>(nc: NatsConnection, subject: string, body: unknown, options: BusRequestOptions): Promise<OkReply<T>> {
  let reply;
  const headers = withTraceHeaders(options.headers);
  try {
    reply = await nc.request(subject, encodeJson(body), {
      timeout: Math.max(1, Math.floor(options.timeoutMs)),
      ...(headers === undefined ? {} : { headers }),
    });
  } catch (err: unknown) {
    throw toBusError(err, options);
  }
  const parsed = decodeBody<OkReply<T> | { ok: false; error: ErrorBody }>(reply.data, 'Reply');
  if (!parsed.ok) throw McpbusError.fromBody(parsed.error);
  return parsed;
}

function toBusError(err: unknown, options: BusRequestOptions): McpbusError {
  if (err instanceof RequestError && err.cause instanceof NoRespondersError)
    return new McpbusError(ErrorCode.NoWorkers, `no mcpbus worker is running to serve ${options.what}; start one with "mcpbus start --role worker"`, { cause: err });
  if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError))
    return new McpbusError(ErrorCode.Timeout, `${options.what} did not finish within ${Math.round(options.timeoutMs)} ms`, { cause: err });
  return new McpbusError(ErrorCode.Internal, `bus request for ${options.what} failed: ${messageOf(err)}`, { cause: err });
}

/** The reply body for a failure; unknown errors are reported as `internal` without details. */
export function errorReply(err: unknown): { ok: false; error: ErrorBody } {
  if (err instanceof McpbusError) return { ok: false, error: err.toBody() };
  return { ok: false, error: { code: ErrorCode.Internal, message: 'internal error in worker' } };
}
