/**
 * Every failure the client reports: `code` is mcpbus's stable error code (`unauthorized`,
 * `unknown_tool`, `timeout`, `no_workers`, `outcome_unknown`, …; see docs/bus-api.md), or
 * `transport` when mcpbus could not be reached. Branch on `code`, not on the message.
 */
export class McpbusClientError extends Error {
  readonly code: string;
  /** The JSON-RPC code, when the error came through MCP. */
  readonly jsonRpcCode: number | undefined;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: { jsonRpcCode?: number; data?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'McpbusClientError';
    this.code = code;
    this.jsonRpcCode = options.jsonRpcCode;
    this.data = options.data;
  }
}
