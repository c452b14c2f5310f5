import type { IncomingHttpHeaders } from 'node:http';
import { FULL_ACCESS, allowsServer, type Access } from '@mcpbus/access';
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

/** Which server names exist right now (config.yaml's and the admin API's). */
export interface KnownServers {
  has(name: string): boolean;
}

/**
 * The error for servers a request names that it cannot use. A key restricted to some servers is
 * told "not permitted" whether or not the others exist, so it learns nothing of them.
 */
function unusable(names: readonly string[], known: KnownServers, access: Access, what: string): McpbusError | undefined {
  const restricted = access.servers !== undefined;
  const refused = names.filter((s) => !known.has(s) || !allowsServer(access, s));
  if (refused.length === 0) return undefined;
  if (restricted) return new McpbusError(ErrorCode.NotPermitted, `${what} ${refused.map((s) => `"${s}"`).join(', ')}: not permitted for this key`);
  return new McpbusError(ErrorCode.UnknownServer, `${what} ${refused.map((s) => `"${s}"`).join(', ')}: no such server is configured`);
}

/** The scope of a request on an MCP path (given the servers that exist and the caller's access), or the error that explains why it has none. */
export function scopeOf(pathname: string, headers: IncomingHttpHeaders, known: KnownServers, access: Access = FULL_ACCESS): Scope | McpbusError {
  const single = serverInPath(pathname);
  if (single !== undefined) return unusable([single], known, access, 'MCP server') ?? { servers: [single], single };
  const header = headers['x-mcp-servers'];
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (raw === undefined || raw.trim() === '') return ALL_SERVERS;
  const servers = [...new Set(raw.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  return unusable(servers, known, access, 'x-mcp-servers names') ?? { servers, single: undefined };
}
