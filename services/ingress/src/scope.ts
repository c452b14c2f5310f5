import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';

/**
 * Which upstreams one MCP request sees. `servers` narrows the aggregated catalog (from the
 * `x-mcp-servers` header); `single` exposes one server with its tools' original names
 * (`/mcp/{server}` and LiteLLM's `/{server}/mcp`).
 */
export interface Scope {
  readonly servers: readonly string[] | undefined;
  readonly single: string | undefined;
}

export const ALL_SERVERS: Scope = Object.freeze({ servers: undefined, single: undefined });

/** The server a path names (`/mcp/{server}`, `/{server}/mcp`), or undefined for the main `/mcp`. */
export function serverInPath(pathname: string): string | undefined {
  const parts = pathname.split('/').filter((p) => p !== '');
  if (parts.length !== 2) return undefined;
  const raw = parts[0] === 'mcp' && parts[1] !== 'mcp' ? parts[1] : parts[1] === 'mcp' && parts[0] !== 'mcp' ? parts[0] : undefined;
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    // Not valid percent-encoding: no server has that name; answered as an unknown server.
    return raw;
  }
}

/** The scope of a request on an MCP path (given the configured server names), or the error that explains why it has none. */
export function scopeOf(pathname: string, headers: IncomingHttpHeaders, known: ReadonlySet<string>): Scope | McpbusError {
  const single = serverInPath(pathname);
  if (single !== undefined) {
    return known.has(single) ? { servers: [single], single } : new McpbusError(ErrorCode.UnknownServer, `No MCP server named "${single}" is configured`);
  }
  const header = headers['x-mcp-servers'];
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (raw === undefined || raw.trim() === '') return ALL_SERVERS;
  const servers = [...new Set(raw.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  const unknown = servers.filter((s) => !known.has(s));
  if (unknown.length > 0) return new McpbusError(ErrorCode.UnknownServer, `x-mcp-servers names servers that are not configured: ${unknown.join(', ')}`);
  return { servers, single: undefined };
}
