import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createMcpHandler } from '@modelcontextprotocol/server';
import { localhostHostValidation, toNodeHandler } from '@modelcontextprotocol/node';
import { counterUri, createCounters } from './counters.js';
import { createFixtureServer, type FixtureEntryOptions } from './server.js';

/** One HTTP request the fixture received, as seen on the wire. */
export interface RecordedRequest {
  method: string;
  /** Path and query string. */
  path: string;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** JSON-RPC `method` of the body, when it is a JSON-RPC message. */
  rpcMethod?: string;
}

export interface FixtureHttpOptions extends FixtureEntryOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  path?: string;
  /** Keep only the newest this-many entries in `requests` (default 10 000), so benchmarks don't grow memory. */
  maxRecordedRequests?: number;
}

export interface FixtureHttpHandle {
  url: string;
  port: number;
  /** Requests received so far (the newest `maxRecordedRequests`), oldest first. */
  requests: RecordedRequest[];
  /** subscriptions/listen streams open right now (2026 clients; each stream counts once). */
  listenStreams(): number;
  /** Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

function rpcMethodOf(body: string): string | undefined {
  try {
    const message: unknown = JSON.parse(body);
    const first: unknown = Array.isArray(message) ? message[0] : message;
    if (typeof first === 'object' && first !== null && 'method' in first && typeof first.method === 'string') return first.method;
  } catch {
    // Not JSON: the MCP handler answers it; there is just nothing to record.
  }
  return undefined;
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/**
 * Serves the fixture over Streamable HTTP (both eras, stateless legacy leg) on `node:http`.
 * The `crash` tool kills the whole process, including whatever else runs in it.
 */
export async function startFixtureHttp(options: FixtureHttpOptions = {}): Promise<FixtureHttpHandle> {
  const { port = 0, host = '127.0.0.1', path = '/mcp', maxRecordedRequests = 10_000, stateDir, ...serverOptions } = options;
  const counters = createCounters(stateDir);
  const requests: RecordedRequest[] = [];
  const crash = (): void => {
    httpServer.closeAllConnections();
    process.exit(1);
  };
  // Instances live for one request; counter changes reach 2026 clients' listen streams through the handler.
  const handler = createMcpHandler(() => createFixtureServer({ ...serverOptions, onCrash: crash, counters, notifyUpdates: false }), {
    onerror: () => {},
  });
  const stopUpdates = counters.onChange(name => handler.notify.resourceUpdated(counterUri(name)));
  const bus = handler.bus as { listenerCount?: number };
  const mcp = toNodeHandler(handler);
  // DNS-rebinding guard; meaningless (and in the way) when deliberately bound to another interface.
  const hostOk = LOOPBACK_HOSTS.has(host) ? localhostHostValidation() : () => true;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Buffer the body to record its JSON-RPC method, then replay the raw bytes so the SDK
    // sees exactly what arrived (malformed bodies included).
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const rpcMethod = rpcMethodOf(body);
    requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: flattenHeaders(req),
      ...(rpcMethod !== undefined && { rpcMethod }),
    });
    if (requests.length > maxRecordedRequests) requests.shift();
    if (new URL(req.url ?? '/', 'http://fixture').pathname !== path) {
      res.writeHead(404).end();
      return;
    }
    if (!hostOk(req, res)) return;
    const replay = {
      method: req.method,
      url: req.url,
      headers: req.headers,
      [Symbol.asyncIterator]: () => Readable.from(chunks)[Symbol.asyncIterator](),
    };
    await mcp(replay, res);
  }

  const httpServer = createServer((req, res) => {
    serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const actualPort = (httpServer.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      stopUpdates();
      counters.close();
      const results = await Promise.allSettled([
        handler.close(),
        new Promise<void>((resolve, reject) => {
          httpServer.close(err => (err ? reject(err) : resolve()));
          httpServer.closeAllConnections();
        }),
      ]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw new Error('fixture http close failed', { cause: failed.reason });
    })());

  return { url: `http://${urlHost}:${actualPort}${path}`, port: actualPort, requests, listenStreams: () => bus.listenerCount ?? 0, close };
}
