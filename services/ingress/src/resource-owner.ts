import { allowsServer } from '@mcpbus/access';
import { ErrorCode, McpbusError, parseResourceUri } from '@mcpbus/protocol';
import type { Caller } from './caller.js';
import type { ServerLookup } from './relay-call.js';

/** Where a resource a client named lives: its server, and the URI that server knows it by. */
export interface ResourceRef {
  server: string;
  upstreamUri: string;
}

/**
 * The server and upstream URI of a resource URI a client sent: namespaced on aggregated routes,
 * the upstream's own on a single-server route. A URI outside the caller's scope or access is
 * refused like an unknown one (a restricted key is told "not permitted" either way).
 */
export function resourceOf(uri: string, caller: Pick<Caller, 'scope' | 'access'>, servers: ServerLookup): ResourceRef {
  const { scope } = caller;
  const parsed = scope.single === undefined ? parseResourceUri(uri) : { server: scope.single, uri };
  const usable = parsed !== undefined && servers.get(parsed.server) !== undefined && (scope.servers === undefined || scope.servers.includes(parsed.server));
  if (usable && allowsServer(caller.access, parsed.server)) return { server: parsed.server, upstreamUri: parsed.uri };
  if (caller.access.servers !== undefined) throw new McpbusError(ErrorCode.NotPermitted, `The resource ${uri} is not permitted for this key`);
  throw new McpbusError(ErrorCode.InvalidParams, `Unknown resource: ${uri}`);
}
