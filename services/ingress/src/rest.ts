import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, INVALID_ARGUMENTS_META_KEY, McpbusError, messageOf } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls } from './bus-calls.js';
import { sendJson, sendRestError } from './http-replies.js';
import { presentedKey } from './auth.js';
import { callerOf, credentialOf } from './caller.js';
import type { CallRelay } from './relay-call.js';
import { ALL_SERVERS, scopeOf, type KnownServers, type Scope } from './scope.js';
import type { Access } from '@mcpbus/access';
import { isJsonObject } from './json-object.js';

/** LiteLLM's REST paths, old (`/mcp/…`) and new (`/mcp-rest/…`), to what they do. */
const ROUTES: Readonly<Record<string, 'enabled' | 'list' | 'call'>> = {
  '/mcp/enabled': 'enabled',
  '/mcp-rest/enabled': 'enabled',
  '/mcp/tools/list': 'list',
  '/mcp-rest/tools/list': 'list',
  '/mcp/tools/call': 'call',
  '/mcp-rest/tools/call': 'call',
};

export function restRouteOf(pathname: string): 'enabled' | 'list' | 'call' | undefined {
  return ROUTES[pathname.replace(/\/+$/, '')];
}

export interface RestDeps {
  bus: BusCalls;
  relay: CallRelay;
  knownServers: KnownServers;
  separator: string;
  readBody: (req: IncomingMessage) => Promise<unknown>;
  log: Logger;
}


/** `GET …/tools/list[?server_id=]`: every tool with its server, as LiteLLM lists them. */
async function listTools(url: URL, req: IncomingMessage, res: ServerResponse, access: Access, deps: RestDeps): Promise<void> {
  const serverId = url.searchParams.get('server_id') ?? undefined;
  let scope = ALL_SERVERS;
  try {
    if (serverId !== undefined) scope = namedServer(serverId, access, deps);
  } catch (err: unknown) {
    return sendRestError(res, err as McpbusError, { tools: [] });
  }
  const { tools, failures } = await deps.bus.listTools(credentialOf(presentedKey(req.headers), access), scope.servers);
  const listed = tools.map((t) => ({ ...t.tool, mcp_info: { server_name: t.server, tool_name: t.upstreamName } }));
  const partial = failures.length > 0;
  sendJson(res, 200, {
    tools: listed,
    error: partial ? 'partial_failure' : null,
    message: partial ? `Failed to get tools from: ${failures.map((f) => `${f.server} (${f.message})`).join('; ')}` : 'Successfully retrieved tools',
    failures,
  });
}

/**
 * LiteLLM callers may name the server (`server_id`) and the tool by its upstream name; a
 * prefixed name works with or without it.
 */
function scopeForCall(name: string, serverId: unknown, access: Access, deps: RestDeps): Scope {
  if (serverId === undefined) return ALL_SERVERS;
  if (typeof serverId !== 'string') throw new McpbusError(ErrorCode.BadRequest, 'server_id must be a string');
  const scope = namedServer(serverId, access, deps);
  return name.startsWith(`${serverId}${deps.separator}`) ? ALL_SERVERS : scope;
}

/** The scope of one server named by `server_id`, judged like a `/mcp/{server}` path. */
function namedServer(serverId: string, access: Access, deps: RestDeps): Scope {
  const scope = scopeOf(`/mcp/${encodeURIComponent(serverId)}`, {}, deps.knownServers, access);
  if (scope instanceof McpbusError) throw scope;
  return scope;
}

/** `POST …/tools/call` with `{ name, arguments }`: the MCP call result, or an error with a fitting status. */
async function callTool(req: IncomingMessage, res: ServerResponse, access: Access, deps: RestDeps): Promise<void> {
  const body = await deps.readBody(req);
  if (!isJsonObject(body) || typeof body['name'] !== 'string' || (body['arguments'] !== undefined && !isJsonObject(body['arguments'])))
    throw new McpbusError(ErrorCode.BadRequest, 'Send a JSON object { "name": "<tool>", "arguments": { … } } (optionally with "server_id")');
  const scope = scopeForCall(body['name'], body['server_id'], access, deps);
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const result = await deps.relay.call({ name: body['name'], arguments: body['arguments'], caller: callerOf(req.headers, scope, access), signal: abort.signal });
  const meta = result['_meta'];
  const problems = isJsonObject(meta) ? meta[INVALID_ARGUMENTS_META_KEY] : undefined;
  if (Array.isArray(problems))
    return sendRestError(res, new McpbusError(ErrorCode.InvalidParams, `Invalid arguments for tool ${body['name']}`), { problems });
  sendJson(res, 200, result);
}

/**
 * LiteLLM's REST endpoints, over the same bus, catalog, validation and errors as `/mcp`.
 * Authentication and Host/Origin checks happen before this is called.
 */
export async function serveRest(route: 'enabled' | 'list' | 'call', req: IncomingMessage, res: ServerResponse, access: Access, deps: RestDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://ingress');
  const method = route === 'call' ? 'POST' : 'GET';
  if (req.method !== method) return sendRestError(res, new McpbusError(ErrorCode.BadRequest, `Use ${method} ${url.pathname}`));
  try {
    if (route === 'enabled') return sendJson(res, 200, { enabled: true });
    if (route === 'list') return await listTools(url, req, res, access, deps);
    return await callTool(req, res, access, deps);
  } catch (err: unknown) {
    if (err instanceof McpbusError) return sendRestError(res, err);
    deps.log.error({ err: messageOf(err) }, 'REST request failed');
    sendRestError(res, new McpbusError(ErrorCode.Internal, 'Internal error'));
  }
}
