import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowsServer, stdioProblems, urlProblem, type Principal, type StoredServer } from '@mcpbus/access';
import { parseServerEntry, type ServerConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';
import { sendJson } from '../http-replies.js';
import { type AdminDeps, badRequest, stores, objectBody, optionalString, requireAdmin } from './common.js';

const MASK = '********';
const SERVER_ID = /^[A-Za-z0-9_.=-]{1,128}$/;
/** Fields of LiteLLM's server requests that describe the record, not the connection. */
const RECORD_FIELDS: ReadonlySet<string> = new Set(['server_id', 'server_name', 'alias', 'created_at', 'updated_at', 'created_by', 'updated_by', 'status', 'credentials']);

const maskValues = (map: Readonly<Record<string, string>>): Record<string, string> => Object.fromEntries(Object.keys(map).map((k) => [k, MASK]));

/**
 * A server as the API shows it, LiteLLM's `LiteLLM_MCPServerTable` shape. Secrets (auth_value,
 * header values, stdio env values) are write-only and always masked. Only the master key sees
 * a URL's path and a command's arguments, which can carry tokens too.
 */
function view(server: ServerConfig, stored: StoredServer | undefined, admin: boolean): Record<string, unknown> {
  let url = server.url;
  if (url !== undefined && !admin) url = new URL(url).origin;
  return {
    server_id: stored?.server_id ?? server.name,
    server_name: server.name,
    alias: stored?.alias ?? server.name,
    description: server.description ?? null,
    transport: server.transport,
    url: url ?? null,
    auth_type: server.authType,
    ...(server.authValue === undefined ? {} : { auth_value: MASK }),
    static_headers: maskValues(server.headers),
    ...(server.transport === 'stdio' ? { command: admin ? server.command : undefined, args: admin ? server.args : undefined, env: maskValues(server.env) } : {}),
    allowed_tools: server.allowedTools ?? null,
    disallowed_tools: server.disallowedTools ?? null,
    spec_version: server.specVersion ?? null,
    // mcpbus's own: servers from config.yaml cannot be changed through the API.
    source: stored === undefined ? 'config' : 'api',
    read_only: stored === undefined,
    created_at: stored?.created_at ?? null,
    updated_at: stored?.updated_at ?? null,
  };
}

/** The connection part of a request body, in `mcp_servers:` entry form (LiteLLM's `credentials.auth_value` folded in). */
function entryOf(body: Record<string, unknown>): Record<string, unknown> {
  const entry = Object.fromEntries(Object.entries(body).filter(([k, v]) => !RECORD_FIELDS.has(k) && v !== null));
  const credentials = body['credentials'];
  if (typeof credentials === 'object' && credentials !== null && typeof (credentials as Record<string, unknown>)['auth_value'] === 'string')
    entry['auth_value'] = (credentials as Record<string, unknown>)['auth_value'];
  return entry;
}

/** Checks a server entry as config.yaml would, then what only API-added servers must pass: the SSRF guard and the stdio policy. */
async function checkedServer(name: string, entry: Record<string, unknown>, deps: AdminDeps): Promise<ServerConfig> {
  const parsed = parseServerEntry(name, entry, deps.config.settings);
  if ('problems' in parsed) throw new McpbusError(ErrorCode.BadRequest, `The server entry has problems: ${parsed.problems.join('; ')}`, { data: { problems: parsed.problems } });
  const server = parsed.server;
  const settings = deps.config.settings;
  if (server.transport === 'http' || server.transport === 'sse') {
    const problem = await urlProblem(server.url ?? '', { allow: settings.upstreamUrlAllowlist });
    if (problem !== undefined) throw new McpbusError(ErrorCode.Forbidden, problem);
  } else if (server.transport === 'stdio') {
    const problems = stdioProblems({ command: server.command ?? '', args: server.args, env: server.env, ...(server.cwd === undefined ? {} : { cwd: server.cwd }) }, { commands: settings.apiStdioCommands });
    if (problems.length > 0) throw new McpbusError(ErrorCode.Forbidden, problems.join(' '), { data: { problems } });
  }
  return server;
}

/** A server the caller may see, by server_id (or name): others are "not found", whether they exist or not. */
function visible(id: string, principal: Principal, deps: AdminDeps): { server: ServerConfig; stored: StoredServer | undefined } {
  const stored = deps.servers.stored(id);
  const server = deps.servers.get(stored?.server_name ?? id);
  if (server === undefined || !allowsServer(principal.access, server.name)) throw new McpbusError(ErrorCode.NotFound, `No MCP server with server_id "${id}"`);
  return { server, stored: deps.servers.origin(server.name) === 'api' ? deps.servers.stored(server.name) : undefined };
}

async function waitForDirectory(deps: AdminDeps, ready: () => boolean): Promise<void> {
  const until = Date.now() + 2_000;
  while (!ready() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}

async function create(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const name = optionalString(body, 'server_name') ?? optionalString(body, 'alias');
  if (name === undefined) throw badRequest('server_name is required: it prefixes the server\'s tools (server_name-tool)');
  const id = optionalString(body, 'server_id') ?? randomUUID();
  if (!SERVER_ID.test(id)) throw badRequest('server_id may use letters, digits and _ . = - (up to 128)');
  if (deps.servers.stored(id) !== undefined || deps.servers.get(id) !== undefined) throw badRequest(`server_id "${id}" is taken`);
  const taken = deps.servers.nameTaken(name);
  if (taken !== undefined) throw badRequest(`server_name "${name}" is taken: ${taken}`);
  const entry = entryOf(body);
  const server = await checkedServer(name, entry, deps);
  const now = new Date().toISOString();
  const alias = optionalString(body, 'alias');
  const stored: StoredServer = { v: 1, server_id: id, server_name: name, ...(alias === undefined ? {} : { alias }), entry, created_at: now, updated_at: now };
  await stores(deps).servers.write(id, stored);
  await waitForDirectory(deps, () => deps.servers.get(name) !== undefined);
  deps.log.info({ serverId: id, server: name, transport: server.transport }, 'MCP server added through the API');
  sendJson(res, 200, view(server, stored, true));
}

/** PUT: the fields sent replace the stored ones; secrets left out are kept (they are never read back). */
async function update(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const id = optionalString(body, 'server_id');
  if (id === undefined) throw badRequest('server_id is required');
  const current = deps.servers.stored(id);
  if (current === undefined) {
    if (deps.servers.get(id) !== undefined) throw new McpbusError(ErrorCode.Forbidden, `Server "${id}" is defined in config.yaml and is read-only here; change it there`);
    throw new McpbusError(ErrorCode.NotFound, `No MCP server with server_id "${id}"`);
  }
  const name = optionalString(body, 'server_name') ?? current.server_name;
  const taken = deps.servers.nameTaken(name, current.server_id);
  if (taken !== undefined) throw badRequest(`server_name "${name}" is taken: ${taken}`);
  const changes = entryOf(body);
  const entry: Record<string, unknown> = { ...current.entry, ...changes };
  for (const [key, value] of Object.entries(body)) if (value === null) delete entry[key];
  const server = await checkedServer(name, entry, deps);
  const alias = optionalString(body, 'alias') ?? current.alias;
  const stored: StoredServer = { ...current, server_name: name, ...(alias === undefined ? {} : { alias }), entry, updated_at: new Date().toISOString() };
  await stores(deps).servers.write(current.server_id, stored);
  await waitForDirectory(deps, () => deps.servers.stored(current.server_id)?.updated_at === stored.updated_at);
  sendJson(res, 200, view(server, stored, true));
}

async function remove(id: string, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const current = deps.servers.stored(id);
  if (current === undefined) {
    if (deps.servers.get(id) !== undefined) throw new McpbusError(ErrorCode.Forbidden, `Server "${id}" is defined in config.yaml and is read-only here; remove it there`);
    throw new McpbusError(ErrorCode.NotFound, `No MCP server with server_id "${id}"`);
  }
  await stores(deps).servers.remove(current.server_id);
  deps.log.info({ serverId: current.server_id, server: current.server_name }, 'MCP server removed through the API');
  sendJson(res, 202, { server_id: current.server_id, deleted: true });
}

/** `/v1/mcp/server[/{server_id}]`: LiteLLM's MCP server management. Reads are filtered by the caller's access; writes are the master key's. */
export async function serveServers(id: string | undefined, req: IncomingMessage, res: ServerResponse, principal: Principal, deps: AdminDeps): Promise<void> {
  const method = req.method ?? 'GET';
  if (method === 'GET' && id === undefined) {
    const all = deps.servers.all().filter((s) => allowsServer(principal.access, s.name));
    return sendJson(res, 200, all.map((s) => view(s, deps.servers.origin(s.name) === 'api' ? deps.servers.stored(s.name) : undefined, principal.admin)));
  }
  if (method === 'GET' && id !== undefined) {
    const { server, stored } = visible(id, principal, deps);
    return sendJson(res, 200, view(server, stored, principal.admin));
  }
  requireAdmin(principal, deps.config, `${method} /v1/mcp/server`);
  if (method === 'POST' && id === undefined) return create(req, res, deps);
  if (method === 'PUT' && id === undefined) return update(req, res, deps);
  if (method === 'DELETE' && id !== undefined) return remove(id, res, deps);
  throw badRequest('Use GET /v1/mcp/server[/{server_id}], POST or PUT /v1/mcp/server, or DELETE /v1/mcp/server/{server_id}');
}
