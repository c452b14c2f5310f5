import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSEServerTransport } from '@modelcontextprotocol/server-legacy/sse';
import { createCounters } from './counters.js';
import { createFixtureServer, type FixtureEntryOptions } from './server.js';

export interface FixtureSseOptions extends FixtureEntryOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
}

export interface FixtureSseHandle {
  /** The `GET /sse` URL clients connect to. */
  url: string;
  port: number;
  /** Idempotent. */
  close(): Promise<void>;
}

/**
 * The fixture over the 2024-11-05 HTTP+SSE transport: `GET /sse` opens a session whose first
 * event names `POST /messages?sessionId=…`. One fixture server per session, as that transport
 * requires. Uses the SDK's frozen legacy SSE server; only for testing legacy upstreams.
 */
export async function startFixtureSse(options: FixtureSseOptions = {}): Promise<FixtureSseHandle> {
  const sessions = new Map<string, SSEServerTransport>();
  const { stateDir, ...serverOptions } = options;
  const counters = createCounters(stateDir);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fixture');
    if (req.method === 'GET' && url.pathname === '/sse') {
      const transport = new SSEServerTransport('/messages', res);
      sessions.set(transport.sessionId, transport);
      res.on('close', () => sessions.delete(transport.sessionId));
      void createFixtureServer({ ...serverOptions, counters }).connect(transport);
      return;
    }
    const transport = req.method === 'POST' && url.pathname === '/messages' ? sessions.get(url.searchParams.get('sessionId') ?? '') : undefined;
    if (transport === undefined) {
      res.writeHead(404).end('unknown session');
      return;
    }
    void transport.handlePostMessage(req, res);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/sse`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        counters.close();
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
