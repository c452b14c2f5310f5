import { StreamableHTTPClientTransport, SSEClientTransport, type Transport } from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { basename } from 'node:path';
import type { ServerConfig } from '@mcpbus/config';
import { guardedFetch } from '@mcpbus/access';
import type { Logger } from 'pino';
import { upstreamHeaders } from './auth-headers.js';

/**
 * Where a server lives, safe to log: arguments, paths and query strings can carry secrets
 * (resolved `os.environ/` values, API keys in URL paths), so only the command's name and the
 * URL's origin are shown.
 */
export function describeServer(server: ServerConfig): string {
  if (server.transport === 'stdio') return `stdio: ${basename(server.command ?? '')} (${server.args.length} args)`;
  if (server.transport === 'local') return 'local: mcp_tools';
  try {
    return `${server.transport}: ${new URL(server.url ?? '').origin}`;
  } catch {
    return `${server.transport}: (unparsable URL)`;
  }
}

/** What a session's owner wants to hear from its transport. */
export interface TransportHooks {
  /**
   * Streamable HTTP: the transport resumes an SSE stream with Last-Event-ID (the upstream closed
   * it before answering, SEP-1699 polling, or it broke); `lastEventId` is the last event it got.
   */
  onResume?: (lastEventId: string) => void;
}

/** `fetch`, telling `onResume` of each GET that resumes a stream. */
function resumeObservingFetch(base: typeof fetch, onResume: (lastEventId: string) => void): typeof fetch {
  return (input, init) => {
    if ((init?.method ?? 'GET').toUpperCase() === 'GET') {
      const lastEventId = new Headers(init?.headers).get('last-event-id');
      if (lastEventId !== null) onResume(lastEventId);
    }
    return base(input, init);
  };
}

/**
 * `fetch`, reading a POST's `application/json` answer that holds several JSON-RPC messages, one
 * per line, as the batch it amounts to. Servers on the 1.x SDK answer 2026-07-28 requests this
 * way when they send a notification before the result (the conformance suite's own reference
 * server does); the SDK would fail to parse the body and lose the result. Only the body's `json()`
 * is replaced, and it parses as the SDK's would: a body that parses costs nothing more.
 */
function lineDelimitedTolerantFetch(base: typeof fetch): typeof fetch {
  return async (input, init) => {
    const response = await base(input, init);
    if ((init?.method ?? 'GET').toUpperCase() !== 'POST' || response.status !== 200 || !(response.headers.get('content-type') ?? '').startsWith('application/json')) return response;
    const json = async (): Promise<unknown> => {
      const text = await response.text();
      try {
        return JSON.parse(text);
      } catch (err: unknown) {
        const lines = text.split('\n').filter((line) => line.trim() !== '');
        if (lines.length < 2) throw err;
        try {
          return lines.map((line) => JSON.parse(line) as unknown);
        } catch {
          throw err;
        }
      }
    };
    Object.defineProperty(response, 'json', { value: json });
    return response;
  };
}

/**
 * A fresh transport for one upstream session. A stdio child gets the default safe environment
 * plus the server's `env`; its stderr is read line by line into debug logs so a chatty child
 * can never block on a full pipe.
 */
export function createTransport(server: ServerConfig, log: Logger, hooks: TransportHooks = {}): Transport {
  if (server.transport === 'local') throw new Error(`server "${server.name}" runs in-process; its sessions need a transport factory`);
  if (server.transport === 'stdio') {
    const transport = new StdioClientTransport({
      command: server.command ?? '',
      args: [...server.args],
      env: { ...getDefaultEnvironment(), ...server.env },
      ...(server.cwd === undefined ? {} : { cwd: server.cwd }),
      stderr: 'pipe',
    });
    const stderr = transport.stderr;
    if (stderr !== null) {
      let buffered = '';
      stderr.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') log.debug({ stderr: line.slice(0, 2_000) }, 'upstream stderr');
      });
    }
    return transport;
  }
  const url = new URL(server.url ?? '');
  const requestInit = { headers: upstreamHeaders(server) };
  // Servers added through the admin API connect only to addresses the SSRF guard allows, checked
  // on the address each connection actually uses (so DNS rebinding cannot slip past it).
  const guarded = server.ssrfAllowlist === undefined ? undefined : guardedFetch({ allow: server.ssrfAllowlist });
  if (server.transport === 'sse') return new SSEClientTransport(url, { requestInit, ...(guarded === undefined ? {} : { fetch: guarded }) });
  const tolerant = lineDelimitedTolerantFetch(guarded ?? fetch);
  return new StreamableHTTPClientTransport(url, { requestInit, fetch: hooks.onResume === undefined ? tolerant : resumeObservingFetch(tolerant, hooks.onResume) });
}
