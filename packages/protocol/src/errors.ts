/**
 * One error type for the whole gateway. Code is a stable string; the table below is the only
 * place that decides how a code looks on the wire (JSON-RPC code) and over HTTP (status).
 */
export const ErrorCode = {
  ParseError: 'parse_error',
  BadRequest: 'bad_request',
  InvalidParams: 'invalid_params',
  UnknownTool: 'unknown_tool',
  UnknownServer: 'unknown_server',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  /** The caller's key may not use this server or tool (said the same way whether it exists or not). */
  NotPermitted: 'not_permitted',
  PayloadTooLarge: 'payload_too_large',
  UpstreamError: 'upstream_error',
  UpstreamUnavailable: 'upstream_unavailable',
  UpstreamTimeout: 'upstream_timeout',
  Timeout: 'timeout',
  NoWorkers: 'no_workers',
  Overloaded: 'overloaded',
  NotFound: 'not_found',
  /** An admin write lost a race with another write of the same record. */
  Conflict: 'conflict',
  Cancelled: 'cancelled',
  UnknownTask: 'unknown_task',
  /** The runner running a job stopped mid-call; the tool may or may not have run, and was not re-run. */
  OutcomeUnknown: 'outcome_unknown',
  /** Redis (the job queue) cannot be reached. */
  QueueUnavailable: 'queue_unavailable',
  /** An SSE stream cannot be resumed: its events expired, or the replica holding its call is gone. */
  StreamGone: 'stream_gone',
  /** The caller's key is over its rate or concurrency limit. */
  RateLimited: 'rate_limited',
  /**
   * The call needs a client capability the client did not declare (`data.requiredCapabilities`
   * says which): MCP's MissingRequiredClientCapability, 2026-07-28.
   */
  MissingClientCapability: 'missing_client_capability',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

interface WireShape {
  readonly jsonRpcCode: number;
  readonly httpStatus: number;
}

/** How each error code maps to a JSON-RPC error code and an HTTP status. */
export const ERROR_WIRE: Readonly<Record<ErrorCode, WireShape>> = Object.freeze({
  parse_error: { jsonRpcCode: -32700, httpStatus: 400 },
  bad_request: { jsonRpcCode: -32600, httpStatus: 400 },
  invalid_params: { jsonRpcCode: -32602, httpStatus: 400 },
  unknown_tool: { jsonRpcCode: -32602, httpStatus: 404 },
  unknown_server: { jsonRpcCode: -32602, httpStatus: 404 },
  unauthorized: { jsonRpcCode: -32000, httpStatus: 401 },
  forbidden: { jsonRpcCode: -32000, httpStatus: 403 },
  not_permitted: { jsonRpcCode: -32003, httpStatus: 403 },
  payload_too_large: { jsonRpcCode: -32600, httpStatus: 413 },
  upstream_error: { jsonRpcCode: -32603, httpStatus: 502 },
  upstream_unavailable: { jsonRpcCode: -32010, httpStatus: 502 },
  upstream_timeout: { jsonRpcCode: -32001, httpStatus: 504 },
  timeout: { jsonRpcCode: -32001, httpStatus: 504 },
  no_workers: { jsonRpcCode: -32011, httpStatus: 503 },
  overloaded: { jsonRpcCode: -32012, httpStatus: 503 },
  not_found: { jsonRpcCode: -32001, httpStatus: 404 },
  conflict: { jsonRpcCode: -32000, httpStatus: 409 },
  cancelled: { jsonRpcCode: -32800, httpStatus: 499 },
  unknown_task: { jsonRpcCode: -32602, httpStatus: 404 },
  outcome_unknown: { jsonRpcCode: -32013, httpStatus: 502 },
  queue_unavailable: { jsonRpcCode: -32014, httpStatus: 503 },
  stream_gone: { jsonRpcCode: -32015, httpStatus: 410 },
  rate_limited: { jsonRpcCode: -32029, httpStatus: 429 },
  missing_client_capability: { jsonRpcCode: -32021, httpStatus: 400 },
  internal: { jsonRpcCode: -32603, httpStatus: 500 },
});

/** The error body carried in bus replies and logged by services. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  data?: Record<string, unknown>;
}

/** The gateway's error. Branch on `code`, never on `message`. */
export class McpbusError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { data?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'McpbusError';
    this.code = code;
    this.data = options?.data;
  }

  toBody(): ErrorBody {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }

  static fromBody(body: ErrorBody): McpbusError {
    return new McpbusError(isErrorCode(body.code) ? body.code : ErrorCode.Internal, body.message, body.data === undefined ? undefined : { data: body.data });
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_WIRE, value);
}

/**
 * The JSON-RPC code to send for an error. An upstream's own JSON-RPC error keeps its code
 * (carried in `data.jsonRpcCode`), so a relayed `-32602` stays `-32602`.
 */
export function jsonRpcCodeOf(err: { code: ErrorCode; data?: Record<string, unknown> | undefined }): number {
  const upstream = err.data?.['jsonRpcCode'];
  if (err.code === ErrorCode.UpstreamError && typeof upstream === 'number' && Number.isInteger(upstream)) return upstream;
  return ERROR_WIRE[err.code].jsonRpcCode;
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_WIRE[code].httpStatus;
}
