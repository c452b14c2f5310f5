import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { rpcErrorBodyOf, type CallRelay } from './relay-call.js';
import type { Caller } from './caller.js';
import { isJsonObject } from './json-object.js';

/** 2025-era revisions a plain call may name in MCP-Protocol-Version (absent means 2025-03-26). */
const LEGACY_VERSIONS = new Set(['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']);

type PlainCall = { id: string | number; name: string; arguments: Record<string, unknown> | undefined };

/** A well-formed JSON-RPC `tools/call` request: its id, name, arguments, and the rest of its params. */
export function toolCallOf(body: unknown): (PlainCall & { params: Record<string, unknown> }) | undefined {
  if (!isJsonObject(body) || body['jsonrpc'] !== '2.0' || body['method'] !== 'tools/call' || !isJsonObject(body['params'])) return undefined;
  const id = body['id'];
  const { name, arguments: args, ...params } = body['params'];
  if ((typeof id !== 'string' && typeof id !== 'number') || typeof name !== 'string' || (args !== undefined && !isJsonObject(args))) return undefined;
  return { id, name, arguments: args, params };
}


/**
 * A 2025-era `tools/call` that needs nothing but a result: no progress token, no 2026 `_meta`
 * envelope, well-formed, with the headers the transport requires. Anything else goes to the SDK.
 */
function plainCall(req: IncomingMessage, body: unknown): PlainCall | undefined {
  const version = req.headers['mcp-protocol-version'];
  if (version !== undefined && (typeof version !== 'string' || !LEGACY_VERSIONS.has(version))) return undefined;
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  if (!(req.headers['content-type'] ?? '').includes('application/json')) return undefined;
  const call = toolCallOf(body);
  // Nothing else in params: no _meta (progress, idempotency key, envelope), no task.
  if (call === undefined || Object.keys(call.params).length > 0) return undefined;
  return { id: call.id, name: call.name, arguments: call.arguments };
}

/**
 * Serves a plain 2025-era `tools/call` as one JSON response straight from node:http, which
 * saves the web Request/Response conversion and the per-request SDK server on the hottest path.
 * Returns false, having done nothing, when the request is not such a call.
 */
export function tryFastCall(req: IncomingMessage, res: ServerResponse, body: unknown, caller: Caller, relay: CallRelay, log: Logger): boolean {
  const call = plainCall(req, body);
  if (call === undefined) return false;
  const abort = new AbortController();
  // A client that goes away cancels, as on the SDK's stateless leg.
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const send = (payload: Record<string, unknown>): void => {
    if (res.destroyed) return;
    const json = JSON.stringify({ jsonrpc: '2.0', id: call.id, ...payload });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
    res.end(json);
  };
  relay.call({ name: call.name, arguments: call.arguments, caller, signal: abort.signal, requestId: call.id }).then(
    (result) => send({ result }),
    (err: unknown) => send({ error: rpcErrorBodyOf(err, log) }),
  );
  return true;
}
