import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { ProtocolError, ProtocolErrorCode, Server, createMcpHandler, type CallToolResult, type ServerContext } from '@modelcontextprotocol/server';

/** What the ledger saw of one call key. */
export interface LedgerEntry {
  /** Times a call with this key started running here. */
  starts: number;
  finished: number;
  cancelled: number;
}

/**
 * An upstream MCP server (Streamable HTTP, stateless, both eras) that keeps a ledger of every
 * call by the `key` argument its caller chose, so a test can tell exactly which calls ran, and
 * how often: "no call runs twice" is `starts <= 1` for every key.
 */
export interface LedgerServer {
  readonly url: string;
  /** The entry of one key (zeros when it never ran). */
  entry(key: string): LedgerEntry;
  /** Keys that started more than once. */
  repeated(): string[];
  /** Totals over every key. */
  totals(): LedgerEntry;
  close(): Promise<void>;
}

const WORK_SCHEMA = {
  type: 'object',
  properties: {
    key: { type: 'string', minLength: 1, maxLength: 128 },
    ms: { type: 'integer', minimum: 0, maximum: 600_000, description: 'How long the call works.' },
    steps: { type: 'integer', minimum: 0, maximum: 10_000, description: 'Progress notifications sent along the way (when the caller asked for progress).' },
  },
  required: ['key'],
  additionalProperties: false,
} as const;

/**
 * `work` may not be re-run (no annotations: a job of it is never retried); `work_idem` is
 * idempotent (a job of it may be retried). Both answer with their key, so a caller can tell a
 * wrong answer from a right one.
 */
const TOOLS = [
  { name: 'work', description: 'Works `ms` milliseconds, reporting `steps` progress updates, then answers its key.', inputSchema: WORK_SCHEMA },
  { name: 'work_idem', description: 'As work, and safe to run again.', inputSchema: WORK_SCHEMA, annotations: { idempotentHint: true } },
];

async function work(args: Record<string, unknown>, ctx: ServerContext, ledger: Map<string, LedgerEntry>): Promise<CallToolResult> {
  const key = args['key'];
  if (typeof key !== 'string' || key === '') throw new ProtocolError(ProtocolErrorCode.InvalidParams, '"key" must be a non-empty string');
  const ms = typeof args['ms'] === 'number' ? args['ms'] : 0;
  const steps = typeof args['steps'] === 'number' ? Math.max(0, args['steps']) : 0;
  const entry = ledger.get(key) ?? { starts: 0, finished: 0, cancelled: 0 };
  ledger.set(key, entry);
  entry.starts += 1;
  const { signal } = ctx.mcpReq;
  const token = ctx.mcpReq._meta?.progressToken;
  const slices = Math.max(1, steps);
  try {
    for (let i = 1; i <= slices; i += 1) {
      await delay(ms / slices, undefined, { signal });
      if (steps > 0 && token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
    }
  } catch (err: unknown) {
    if (signal.aborted) {
      entry.cancelled += 1;
      throw new ProtocolError(ProtocolErrorCode.InternalError, 'cancelled');
    }
    throw err;
  }
  entry.finished += 1;
  return { content: [{ type: 'text', text: key }] };
}

function ledgerServer(ledger: Map<string, LedgerEntry>): Server {
  const server = new Server({ name: 'mcpbus-ledger', version: '0.1.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', () => ({ tools: TOOLS }) as never);
  server.setRequestHandler('tools/call', async (req, ctx) => {
    if (!TOOLS.some((t) => t.name === req.params.name)) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    return work(req.params.arguments ?? {}, ctx, ledger);
  });
  return server;
}

/** node:http in front of the SDK's web-standard handler (the test package has no @modelcontextprotocol/node). */
async function serve(handler: ReturnType<typeof createMcpHandler>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
  const method = req.method ?? 'GET';
  const request = new Request(`http://${req.headers.host ?? 'ledger'}${req.url ?? '/'}`, {
    method,
    headers,
    signal: abort.signal,
    ...(method === 'GET' || method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
  });
  const response = await handler.fetch(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
    res.end();
  } catch {
    res.destroy();
  }
}

/** Starts the ledger upstream on a free loopback port, in this process. */
export async function startLedgerServer(): Promise<LedgerServer> {
  const ledger = new Map<string, LedgerEntry>();
  const handler = createMcpHandler(() => ledgerServer(ledger), { onerror: () => undefined });
  const http = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://ledger').pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    serve(handler, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  http.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    entry: (key) => ({ ...(ledger.get(key) ?? { starts: 0, finished: 0, cancelled: 0 }) }),
    repeated: () => [...ledger].filter(([, e]) => e.starts > 1).map(([k]) => k),
    totals: () => {
      const sum = { starts: 0, finished: 0, cancelled: 0 };
      for (const e of ledger.values()) {
        sum.starts += e.starts;
        sum.finished += e.finished;
        sum.cancelled += e.cancelled;
      }
      return sum;
    },
    close() {
      closing ??= (async () => {
        await handler.close().catch(() => undefined);
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
      })();
      return closing;
    },
  };
}
