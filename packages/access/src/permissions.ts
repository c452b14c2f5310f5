/**
 * What a key or a team may use, in LiteLLM's `object_permission` terms: `mcp_servers` names the
 * servers (absent or empty: no restriction at this level; `["no-mcp-servers"]`: none at all) and
 * `mcp_tool_permissions` names, per server, the upstream tools allowed there (a server it does
 * not list keeps all its tools).
 */
export interface McpPermissions {
  readonly mcp_servers?: readonly string[];
  readonly mcp_tool_permissions?: Readonly<Record<string, readonly string[]>>;
}

/** LiteLLM's sentinel for "this entity may use no MCP server". */
export const NO_MCP_SERVERS = 'no-mcp-servers';

/**
 * A caller's effective access: the intersection of every grant that applies (key and team).
 * `servers` undefined means every server; `tools` maps a server to its allowed upstream tools.
 */
export interface Access {
  readonly servers: ReadonlySet<string> | undefined;
  readonly tools: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Access with no restriction (the master key, or no auth configured). */
export const FULL_ACCESS: Access = Object.freeze({ servers: undefined, tools: new Map<string, ReadonlySet<string>>() });

/**
 * Turns what a grant stores (a config server's name, an API server's `server_id`) into the
 * server's current name, or undefined when no such server exists any more. Grants hold ids so
 * that a renamed server keeps its grants and a new server that takes an old name gets none.
 */
export type ServerResolver = (ref: string) => string | undefined;

const asIs: ServerResolver = (ref) => ref;

function serversOf(grant: McpPermissions | undefined, resolve: ServerResolver): ReadonlySet<string> | undefined {
  const listed = grant?.mcp_servers;
  if (listed === undefined || listed.length === 0) return undefined;
  // A list whose servers are all gone grants nothing: it must not read as "no restriction".
  return listed.includes(NO_MCP_SERVERS) ? new Set() : new Set(listed.map(resolve).filter((name): name is string => name !== undefined));
}

function intersect(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): ReadonlySet<string> | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return new Set([...a].filter((x) => b.has(x)));
}

/** The intersection of grants: a server or tool is usable only if every grant allows it. */
export function effectiveAccess(grants: readonly (McpPermissions | undefined)[], resolve: ServerResolver = asIs): Access {
  let servers: ReadonlySet<string> | undefined;
  const tools = new Map<string, ReadonlySet<string>>();
  for (const grant of grants) {
    servers = intersect(servers, serversOf(grant, resolve));
    for (const [ref, names] of Object.entries(grant?.mcp_tool_permissions ?? {})) {
      const server = resolve(ref);
      if (server !== undefined) tools.set(server, intersect(tools.get(server), new Set(names)) ?? new Set());
    }
  }
  return { servers, tools };
}

export function isUnrestricted(access: Access): boolean {
  return access.servers === undefined && access.tools.size === 0;
}

export function allowsServer(access: Access, server: string): boolean {
  return access.servers === undefined || access.servers.has(server);
}

/** Whether the caller may see and call `tool` (its upstream name) of `server`. */
export function allowsTool(access: Access, server: string, tool: string): boolean {
  if (!allowsServer(access, server)) return false;
  const allowed = access.tools.get(server);
  return allowed === undefined || allowed.has(tool);
}

/** The servers of `names` the caller may use (all of `names` when unrestricted). */
export function permittedServers(access: Access, names: Iterable<string>): string[] {
  return [...names].filter((name) => allowsServer(access, name));
}
