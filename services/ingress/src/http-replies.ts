import type { ServerResponse } from 'node:http';
import { ErrorCode, type McpbusError, httpStatusOf, jsonRpcCodeOf } from '@mcpbus/protocol';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(json)), ...headers });
  res.end(json);
}

function headersFor(err: McpbusError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (err.code === ErrorCode.PayloadTooLarge) headers['Connection'] = 'close';
  if (err.code === ErrorCode.Unauthorized) headers['WWW-Authenticate'] = 'Bearer realm="mcpbus"';
  if (err.code === ErrorCode.NoWorkers || err.code === ErrorCode.Overloaded || err.code === ErrorCode.RateLimited) {
    const after = err.data?.['retryAfterS'];
    headers['Retry-After'] = typeof after === 'number' ? String(after) : '1';
  }
  return headers;
}

/** An error before or outside MCP handling on an MCP route: HTTP status plus a JSON-RPC body. */
export function sendRpcError(res: ServerResponse, err: McpbusError, id: unknown = null): void {
  sendJson(res, httpStatusOf(err.code), { jsonrpc: '2.0', error: { code: jsonRpcCodeOf(err), message: err.message }, id }, headersFor(err));
}

/** An error on a REST route, in the shape LiteLLM's REST endpoints use (`{ detail: { error, message } }`). */
export function sendRestError(res: ServerResponse, err: McpbusError, extra: Record<string, unknown> = {}): void {
  sendJson(res, httpStatusOf(err.code), { detail: { error: err.code, message: err.message, ...extra } }, headersFor(err));
}
