// `tsx test/bench/many-tools-server.ts --servers 20 --tools 50`
//
// Many cheap MCP upstreams in one process, for the `tools/list` benchmark: `--servers` Streamable
// HTTP servers on one port at `/u00/mcp`, `/u01/mcp`, …, each serving `--tools` generated tools
// (SDK v2 `Server` behind `createMcpHandler`, as the fixture server does). Two kinds of broken
// upstream come with them: `/hang/mcp` answers `initialize` but never `tools/list`, and a second
// port accepts TCP connections and never answers anything. Prints one JSON line with both ports
// on stdout once listening.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Server, createMcpHandler, type McpHttpHandler, type Tool } from '@modelcontextprotocol/server';

/** What the parent reads from stdout. */
export interface ManyToolsReady {
  port: number;
  silentPort: number;
}

/** The path of upstream `i`. */
export const upstreamPath = (i: number): string => `/u${String(i).padStart(2, '0')}/mcp`;
export const HANG_PATH = '/hang/mcp';

/**
 * `count` tools shaped like real ones (a sentence of description, three or four typed
 * parameters): about 500 bytes of JSON each, so a list's size on the wire is realistic.
 */
export function generatedTools(server: number, count: number): Tool[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `op_${String(i).padStart(2, '0')}`,
    description: `Operation ${i} of upstream ${server}: looks records up by a query, filters them by status and returns at most limit of them, newest first. Read-only.`,
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'Free-text query matched against titles and bodies.' },
        status: { type: 'string', enum: ['open', 'closed', 'all'], description: 'Which records to include.' },
        limit: { type: 'integer', minimum: 1, maximum: 100, description: 'Largest number of records returned.' },
        ...(i % 2 === 0 ? { cursor: { type: 'string', description: 'Opaque cursor from a previous page.' } } : {}),
      },
      required: ['query'],
    },
    annotations: { readOnlyHint: true },
  }));
}

function toolsServer(name: string, tools: Tool[]): Server {
  const server = new Server({ name, version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', () => ({ tools }));
  server.setRequestHandler('tools/call', (req) => ({ content: [{ type: 'text', text: `${name} ${req.params.name} ran` }] }));
  return server;
}

function hangingServer(): Server {
  const server = new Server({ name: 'hang', version: '1.0.0' }, { capabilities: { tools: {} } });
  // A wedged upstream: connected and initialised, but its list never comes.
  server.setRequestHandler('tools/list', () => new Promise<never>(() => undefined));
  return server;
}

/** node:http → the SDK's web-standard handler: the body read whole, the response streamed back. */
async function serveWeb(handler: McpHttpHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  const response = await handler.fetch(new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, signal: abort.signal, ...(hasBody ? { body: Buffer.concat(chunks) } : {}) }));
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.once('close', () => void reader.cancel().catch(() => undefined));
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    res.write(value);
  }
  res.end();
}

function listen(server: { listen(port: number, host: string, cb: () => void): unknown; once(event: 'error', cb: (err: Error) => void): unknown; address(): AddressInfo | string | null }): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { servers: { type: 'string' }, tools: { type: 'string' } }, strict: true });
  const servers = Number(values.servers ?? 20);
  const toolsPerServer = Number(values.tools ?? 50);
  const handlers = new Map<string, McpHttpHandler>();
  for (let i = 0; i < servers; i += 1) {
    const tools = generatedTools(i, toolsPerServer);
    handlers.set(upstreamPath(i), createMcpHandler(() => toolsServer(`upstream-${i}`, tools), { onerror: () => undefined }));
  }
  handlers.set(HANG_PATH, createMcpHandler(hangingServer, { onerror: () => undefined }));

  const http = createHttpServer((req, res) => {
    const handler = handlers.get((req.url ?? '/').split('?')[0] ?? '/');
    if (handler === undefined) {
      res.writeHead(404).end();
      return;
    }
    serveWeb(handler, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  http.keepAliveTimeout = 65_000;
  // Accepts and holds every connection, answers nothing: an upstream whose process is wedged.
  const held = new Set<Socket>();
  const silent: TcpServer = createTcpServer((socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => held.delete(socket));
  });
  const ready: ManyToolsReady = { port: await listen(http), silentPort: await listen(silent) };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      http.closeAllConnections();
      for (const socket of held) socket.destroy();
      process.exit(0);
    });
  }
}

// Run as a script (the bench spawns it); imported, it only lends its paths and types.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`many-tools server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
