import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '@mcpbus/access';
import { ErrorCode, McpbusError, messageOf } from '@mcpbus/protocol';
import { sendRestError } from '../http-replies.js';
import type { AdminDeps } from './common.js';
import { serveKeys, type KeyRoute } from './keys.js';
import { serveServers } from './servers.js';
import { serveTeams, type TeamRoute } from './teams.js';

export type { AdminDeps } from './common.js';

export type AdminRoute = { kind: 'key'; route: KeyRoute } | { kind: 'team'; route: TeamRoute } | { kind: 'server'; id: string | undefined };

const KEY_ROUTES: ReadonlySet<string> = new Set<KeyRoute>(['generate', 'update', 'delete', 'info', 'list', 'block', 'unblock', 'regenerate']);
const TEAM_ROUTES: ReadonlySet<string> = new Set<TeamRoute>(['new', 'update', 'delete', 'info', 'list', 'block', 'unblock']);

/** The admin route a path names (LiteLLM's `/key/*`, `/team/*` and `/v1/mcp/server[/{id}]`), if any. */
export function adminRouteOf(pathname: string): AdminRoute | undefined {
  const parts = pathname.split('/').filter((p) => p !== '');
  if (parts.length === 2 && parts[0] === 'key' && KEY_ROUTES.has(parts[1] ?? '')) return { kind: 'key', route: parts[1] as KeyRoute };
  if (parts.length === 2 && parts[0] === 'team' && TEAM_ROUTES.has(parts[1] ?? '')) return { kind: 'team', route: parts[1] as TeamRoute };
  if (parts[0] === 'v1' && parts[1] === 'mcp' && parts[2] === 'server' && parts.length <= 4) {
    if (parts.length === 3) return { kind: 'server', id: undefined };
    try {
      return { kind: 'server', id: decodeURIComponent(parts[3] ?? '') };
    } catch {
      return { kind: 'server', id: parts[3] };
    }
  }
  return undefined;
}

/** Serves an admin route for an authenticated caller; every failure is a LiteLLM-shaped REST error. */
export async function serveAdmin(route: AdminRoute, req: IncomingMessage, res: ServerResponse, principal: Principal, deps: AdminDeps): Promise<void> {
  try {
    if (route.kind === 'key') return await serveKeys(route.route, req, res, principal, deps);
    if (route.kind === 'team') return await serveTeams(route.route, req, res, principal, deps);
    return await serveServers(route.id, req, res, principal, deps);
  } catch (err: unknown) {
    if (err instanceof McpbusError) return sendRestError(res, err, err.data?.['problems'] === undefined ? {} : { problems: err.data['problems'] });
    deps.log.error({ err: messageOf(err) }, 'admin request failed');
    sendRestError(res, new McpbusError(ErrorCode.Internal, 'Internal error'));
  }
}
