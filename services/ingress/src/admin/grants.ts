import { NO_MCP_SERVERS, type McpPermissions, type ServerDirectory } from '@mcpbus/access';
import { badRequest, optionalObject } from './common.js';

/**
 * A server as a request names it (its name, or the `server_id` of one added through the API),
 * as the grant stores it: a config server's name, an API server's id (see ServerDirectory.refOf).
 */
function serverName(ref: string, servers: ServerDirectory, field: string): string {
  if (ref === NO_MCP_SERVERS) return ref;
  const stored = servers.refOf(ref);
  if (stored !== undefined) return stored;
  throw badRequest(`${field} names "${ref}", which is no MCP server's name or server_id`);
}

/**
 * The `object_permission` block of a key or team request (LiteLLM's shape), checked against the
 * servers that exist so a typo fails now rather than silently granting nothing.
 */
export function readGrant(body: Record<string, unknown>, servers: ServerDirectory): McpPermissions | undefined {
  const block = optionalObject(body, 'object_permission');
  if (block === undefined) return undefined;
  const grant: { mcp_servers?: string[]; mcp_tool_permissions?: Record<string, string[]> } = {};
  const listed = block['mcp_servers'];
  if (listed !== undefined && listed !== null) {
    if (!Array.isArray(listed) || !listed.every((s) => typeof s === 'string')) throw badRequest('object_permission.mcp_servers must be a list of server names');
    grant.mcp_servers = [...new Set(listed.map((s) => serverName(s, servers, 'object_permission.mcp_servers')))];
  }
  const tools = block['mcp_tool_permissions'];
  if (tools !== undefined && tools !== null) {
    if (typeof tools !== 'object' || Array.isArray(tools)) throw badRequest('object_permission.mcp_tool_permissions must map server names to lists of tool names');
    grant.mcp_tool_permissions = {};
    for (const [ref, names] of Object.entries(tools)) {
      if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw badRequest(`object_permission.mcp_tool_permissions.${ref} must be a list of tool names (the upstream's own names)`);
      grant.mcp_tool_permissions[serverName(ref, servers, 'object_permission.mcp_tool_permissions')] = names;
    }
  }
  // Anything else could be meant to narrow access; ignoring it would grant more than asked. LiteLLM
  // UIs send empty lists for what they do not use, so those pass.
  for (const [key, value] of Object.entries(block)) {
    const empty = value === null || (Array.isArray(value) && value.length === 0);
    if (key !== 'mcp_servers' && key !== 'mcp_tool_permissions' && !empty) throw badRequest(`object_permission.${key} is not supported by mcpbus; grant servers with mcp_servers and tools with mcp_tool_permissions`);
  }
  return grant;
}
