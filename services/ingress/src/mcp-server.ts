import { ProtocolError, Server, type ServerContext } from '@modelcontextprotocol/server';
import { modernInputOf } from './client-input.js';
import { logMessageParams } from './call-logs.js';
import type { McpbusConfig } from '@mcpbus/config';
import { ErrorCode, FAILURES_META_KEY, McpbusError, parseResourceUri, serverOfToolName, type CallLogEvent, type InputMethod, type ItemKind, type LoggingLevel, type ServerRpcMethod, type ServerRpcRequest } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls } from './bus-calls.js';
import type { Caller } from './caller.js';
import { pageOf } from './pages.js';
import { allowsServer } from '@mcpbus/access';
import { toProtocolError, type CallRelay, type ServerLookup } from './relay-call.js';
import { registerTaskMethods, serveToolCall } from './task-methods.js';
import { resourceOf, type ResourceRef } from './resource-owner.js';
import type { ResourceSubscriptionSet } from './resource-updates.js';
import { TASKS_EXTENSION } from './task-views.js';

export const GATEWAY_INFO = { name: 'mcpbus', version: '0.1.0' } as const;

/**
 * Every request method a 2026-07-28 client can make of the gateway (those served here and those
 * the SDK answers itself). Any other is answered 404 before it reaches the SDK, which would
 * answer it on 200 once `tools/call`'s fallback handler has seen it.
 */
export const MODERN_REQUEST_METHODS: ReadonlySet<string> = new Set([
  'server/discover',
  'subscriptions/listen',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'tasks/get',
  'tasks/update',
  'tasks/cancel',
  'tasks/list',
  'tasks/result',
]);

/**
 * A listed tool, marked as callable as a task (`optional`): mcpbus runs any call as a job. A tool
 * whose upstream requires tasks keeps `required` (mcpbus does not drive upstream tasks yet).
 */
function withTaskSupport(tool: Record<string, unknown>): Record<string, unknown> {
  const execution = (tool['execution'] ?? {}) as Record<string, unknown>;
  if (execution['taskSupport'] === 'required') return tool;
  return { ...tool, execution: { ...execution, taskSupport: 'optional' } };
}

/** What an aggregated list answer looks like: a page, maybe a cursor, failures in `_meta`. */
function listResult(field: string, id: string, items: Record<string, unknown>[], failures: unknown[], cursor: string | undefined, pageSize: number): Record<string, unknown> {
  const { page, nextCursor } = pageOf(items, cursor, pageSize, (item) => String(item[id]));
  const result: Record<string, unknown> = { [field]: page };
  if (nextCursor !== undefined) result['nextCursor'] = nextCursor;
  if (failures.length > 0) result['_meta'] = { [FAILURES_META_KEY]: failures };
  return result;
}

const ITEM_FIELDS: Readonly<Record<ItemKind, { field: string; id: string }>> = {
  resources: { field: 'resources', id: 'uri' },
  resourceTemplates: { field: 'resourceTemplates', id: 'uriTemplate' },
  prompts: { field: 'prompts', id: 'name' },
};

export interface GatewayServerOptions {
  /**
   * Where this connection's `resources/subscribe` and `resources/unsubscribe` go, and whose
   * updates reach it: only connections that can carry notifications have one (a legacy SSE
   * session). Without it a 2025 client's subscribe is refused; 2026 clients subscribe on
   * `subscriptions/listen` instead (see resource-updates.ts).
   */
  subscriptions?: ResourceSubscriptionSet;
}

/**
 * The MCP server one HTTP request (or one legacy SSE session) talks to. It holds no state:
 * every list and call becomes a NATS request to the workers. Tools, resources, resource
 * templates and prompts of all servers in the scope are aggregated under namespaced names and
 * URIs; a single-server scope shows the upstream's own.
 */
export function createGatewayServer(config: McpbusConfig, servers: ServerLookup, caller: Caller, bus: BusCalls, relay: CallRelay, log: Logger, options: GatewayServerOptions = {}): Server {
  const { scope } = caller;
  const server = new Server(GATEWAY_INFO, {
    capabilities: {
      tools: { listChanged: true },
      // Subscriptions need a way to deliver updates: a listen stream (2026) or a session.
      resources: { listChanged: true, ...(caller.modern || options.subscriptions !== undefined ? { subscribe: true } : {}) },
      prompts: { listChanged: true },
      completions: {},
      logging: {},
      // Every call can run as a task: mcpbus runs it as a job, whatever the upstream supports.
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
      extensions: { [TASKS_EXTENSION]: {} },
    },
  });
  const pageSize = config.settings.listPageSize;
  const guarded = <T>(work: () => Promise<T>): Promise<T> => work().catch((err: unknown) => Promise.reject(toProtocolError(err, log)));

  server.setRequestHandler('tools/list', (request) =>
    guarded(async () => {
      const { tools, failures } = await bus.listTools(caller, scope.servers);
      // A single-server route shows the upstream's own names.
      const listed = tools.map((t) => withTaskSupport(scope.single === undefined ? t.tool : { ...t.tool, name: t.upstreamName }));
      return listResult('tools', 'name', listed, failures, request.params?.cursor, pageSize) as never;
    }),
  );

  // On a session that carries requests to the client, the upstream's requests for input are sent on it.
  // A session's logging/setLevel (a legacy SSE session keeps this server; a 2025 Streamable HTTP
  // session's level is kept with the session by the ingress, before it gets here).
  let logLevel: LoggingLevel | undefined;
  server.setRequestHandler('logging/setLevel', (request) => {
    logLevel = request.params.level;
    return {};
  });
  const push = {
    capabilities: () => server.getClientCapabilities() as Record<string, unknown> | undefined,
    send: (method: InputMethod, params: Record<string, unknown> | undefined, timeoutMs: number) =>
      server.request({ method, params: params ?? {} } as never, { timeout: timeoutMs }) as Promise<Record<string, unknown>>,
    logLevel: () => logLevel,
    log: (message: CallLogEvent) => void server.sendLoggingMessage(logMessageParams(message)).catch(() => undefined),
  };

  // tools/call is served by the fallback handler: a registered handler would reject the
  // CreateTaskResult a task-augmented 2025 call must get.
  server.fallbackRequestHandler = async (request, ctx) => {
    if (request.method !== 'tools/call') throw new ProtocolError(-32601, 'Method not found');
    return serveToolCall(request.params, ctx, { caller, relay, log, ...(caller.pushesToClient === true ? { push } : {}) });
  };
  registerTaskMethods(server, { caller, bus, log, waitMs: config.settings.taskMaxTtlMs });

  const listItems = (kind: ItemKind, cursor: string | undefined): Promise<never> =>
    guarded(async () => {
      const { items, failures } = await bus.listItems(caller, kind, scope.servers);
      const { field, id } = ITEM_FIELDS[kind];
      const listed = items.map((i) => (scope.single === undefined ? i.item : { ...i.item, [id]: i.upstreamId }));
      return listResult(field, id, listed, failures, cursor, pageSize) as never;
    });
  server.setRequestHandler('resources/list', (request) => listItems('resources', request.params?.cursor));
  server.setRequestHandler('resources/templates/list', (request) => listItems('resourceTemplates', request.params?.cursor));
  server.setRequestHandler('prompts/list', (request) => listItems('prompts', request.params?.cursor));

  /** The server a resource URI or prompt name belongs to, within the scope. */
  const ownerOf = (id: string, kind: 'uri' | 'name'): string => {
    const owner = scope.single ?? (kind === 'uri' ? parseResourceUri(id)?.server : serverOfToolName(id, config.settings.toolSeparator));
    const usable = owner !== undefined && servers.get(owner) !== undefined && (scope.servers === undefined || scope.servers.includes(owner));
    if (usable && allowsServer(caller.access, owner)) return owner;
    const what = kind === 'uri' ? `resource ${id}` : `prompt ${id}`;
    if (caller.access.servers !== undefined) throw new McpbusError(ErrorCode.NotPermitted, `The ${what} is not permitted for this key`);
    throw new McpbusError(ErrorCode.InvalidParams, kind === 'uri' ? `Unknown resource: ${id}` : `Unknown prompt: ${id}`);
  };
  const relayRpc = (method: ServerRpcMethod, params: Record<string, unknown>, owner: () => string, ctx?: ServerContext): Promise<never> =>
    guarded(async () => {
      const name = owner();
      return (await bus.serverRpc(caller, name, method, params, scope.single !== undefined, servers.get(name)?.timeoutMs ?? config.settings.callTimeoutMs, ctx === undefined ? {} : rpcInputOf(caller, ctx))) as never;
    });

  server.setRequestHandler('resources/read', (request, ctx) => relayRpc('resources/read', { ...request.params }, () => ownerOf(request.params.uri, 'uri'), ctx));
  registerResourceSubscriptions(server, (uri) => resourceOf(uri, caller, servers), options.subscriptions, guarded);
  server.setRequestHandler('prompts/get', (request, ctx) => relayRpc('prompts/get', { ...request.params }, () => ownerOf(request.params.name, 'name'), ctx));
  server.setRequestHandler('completion/complete', (request) => {
    const ref = request.params.ref;
    return relayRpc('completion/complete', { ...request.params }, () => (ref.type === 'ref/prompt' ? ownerOf(ref.name, 'name') : ownerOf(ref.uri, 'uri')));
  });

  return server;
}

/** A 2026 client's capabilities and retry material for `resources/read` and `prompts/get` (their upstream may ask it for input). */
function rpcInputOf(caller: Caller, ctx: ServerContext): Pick<ServerRpcRequest, 'interaction' | 'inputResponses' | 'requestState'> {
  if (!caller.modern) return {};
  const { capabilities, ...retry } = modernInputOf(ctx);
  return capabilities === undefined ? retry : { interaction: { capabilities }, ...retry };
}

/** `resources/subscribe` and `resources/unsubscribe` of a 2025 client, kept in the connection's subscription set. */
function registerResourceSubscriptions(server: Server, refOf: (uri: string) => ResourceRef, subscriptions: ResourceSubscriptionSet | undefined, guarded: <T>(work: () => Promise<T>) => Promise<T>): void {
  const usable = (): ResourceSubscriptionSet => {
    if (subscriptions !== undefined) return subscriptions;
    throw new ProtocolError(-32601, 'Resource subscriptions need a connection that can carry notifications: open a legacy SSE session (GET /sse), or use subscriptions/listen (protocol 2026-07-28)');
  };
  server.setRequestHandler('resources/subscribe', (request) =>
    guarded(async () => {
      await usable().add(refOf(request.params.uri), request.params.uri);
      return {};
    }),
  );
  server.setRequestHandler('resources/unsubscribe', (request) =>
    guarded(async () => {
      await usable().remove(request.params.uri);
      return {};
    }),
  );
}
