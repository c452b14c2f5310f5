import type { ServerConfig } from '@mcpbus/config';
import type { IncomingHttpHeaders } from 'node:http';

/** `x-mcp-*` headers that are mcpbus's own and never go upstream. */
const OWN_HEADERS: ReadonlySet<string> = new Set(['x-mcp-servers', 'x-mcp-api-key']);
const CLIENT_AUTH = 'x-mcp-auth';

/** The `x-mcp-*` headers of a request that may carry upstream credentials (lower-case names). */
export function clientCredentialHeaders(headers: IncomingHttpHeaders): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-mcp-') || OWN_HEADERS.has(name) || typeof value !== 'string') continue;
    out[name] = value;
  }
  return out;
}

export type UpstreamCredentials = (server: ServerConfig, clientHeaders: Readonly<Record<string, string>>, ownKey: string | undefined) => Record<string, string> | undefined;

/**
 * LiteLLM's client-supplied upstream credentials: `x-mcp-{server}-{header}` goes to that server
 * only, as `{header}` (the longest server name that prefixes the header wins); `x-mcp-auth` goes
 * to servers with `accept_client_auth: true`, as `Authorization`. mcpbus's own key never goes.
 */
export function createUpstreamCredentials(servers: { names(): ReadonlySet<string> }): UpstreamCredentials {
  // Servers come and go through the admin API, so the names are read for each request.
  const serverOf = (header: string): { server: string; name: string } | undefined => {
    const names = [...servers.names()].map((s) => s.toLowerCase()).sort((a, b) => b.length - a.length);
    for (const server of names) {
      const prefix = `x-mcp-${server}-`;
      if (header.startsWith(prefix) && header.length > prefix.length) return { server, name: header.slice(prefix.length) };
    }
    return undefined;
  };
  return (server, clientHeaders, ownKey) => {
    const out: Record<string, string> = {};
    const target = server.name.toLowerCase();
    for (const [header, value] of Object.entries(clientHeaders)) {
      const owner = serverOf(header);
      if (owner?.server === target) out[owner.name] = value;
    }
    const auth = clientHeaders[CLIENT_AUTH];
    if (server.acceptClientAuth && auth !== undefined && out['authorization'] === undefined) out['authorization'] = auth;
    for (const [header, value] of Object.entries(out)) {
      if (ownKey !== undefined && value.includes(ownKey)) delete out[header];
    }
    return Object.keys(out).length === 0 ? undefined : out;
  };
}
