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

/**
 * A fresh transport for one upstream session. A stdio child gets the default safe environment
 * plus the server's `env`; its stderr is read line by line into debug logs so a chatty child
 * can never block on a full pipe.
 */
export function createTransport(server: ServerConfig, log: Logger): Transport {
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
  const fetchOption = server.ssrfAllowlist === undefined ? {} : { fetch: guardedFetch({ allow: server.ssrfAllowlist }) };
  return server.transport === 'sse' ? new SSEClientTransport(url, { requestInit, ...fetchOption }) : new StreamableHTTPClientTransport(url, { requestInit, ...fetchOption });
}
