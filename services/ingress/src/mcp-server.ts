import { Server } from '@modelcontextprotocol/server';
import type { McpbusConfig } from '@mcpbus/config';
import { ErrorCode, FAILURES_META_KEY, McpbusError, parseResourceUri, serverOfToolName, type ItemKind, type ServerRpcMethod } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls } from './bus-calls.js';
import { pageOf } from './pages.js';
import { toProtocolError, type CallRelay } from './relay-call.js';
import type { Scope } from './scope.js';

export const GATEWAY_INFO = { name: 'mcpbus', version: '0.1.0' } as const;

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

/**
 * The MCP server one HTTP request (or one legacy SSE session) talks to. It holds no state:
 * every list and call becomes a NATS request to the workers. Tools, resources, resource
 * templates and prompts of all servers in the scope are aggregated under namespaced names and
 * URIs; a single-server scope shows the upstream's own.
 */
export function createGatewayServer(config: McpbusConfig, scope: Scope, bus: BusCalls, relayCall: CallRelay, log: Logger): Server {
  const server = new Server(GATEWAY_INFO, {
    capabilities: { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true }, completions: {} },
  });
  const pageSize = config.settings.listPageSize;
  const timeouts = new Map(config.servers.map((s) => [s.name, s.timeoutMs]));
  const guarded = <T>(work: () => Promise<T>): Promise<T> => work().catch((err: unknown) => Promise.reject(toProtocolError(err, log)));

  server.setRequestHandler('tools/list', (request) =>
    guarded(async () => {
      const { tools, failures } = await bus.listTools(scope.servers);
      // A single-server route shows the upstream's own names.
      const listed = tools.map((t) => (scope.single === undefined ? t.tool : { ...t.tool, name: t.upstreamName }));
      return listResult('tools', 'name', listed, failures, request.params?.cursor, pageSize) as never;
    }),
  );

  server.setRequestHandler('tools/call', async (request, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    try {
      const result = await relayCall({
        name: request.params.name,
        arguments: request.params.arguments,
        scope,
        signal: ctx.mcpReq.signal,
        ...(token === undefined
          ? {}
          : { onProgress: (p) => ctx.mcpReq.notify({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => undefined) }),
      });
      return result as never;
    } catch (err: unknown) {
      throw toProtocolError(err, log);
    }
  });

  const listItems = (kind: ItemKind, cursor: string | undefined): Promise<never> =>
    guarded(async () => {
      const { items, failures } = await bus.listItems(kind, scope.servers);
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
    if (owner === undefined || !timeouts.has(owner) || (scope.servers !== undefined && !scope.servers.includes(owner)))
      throw new McpbusError(ErrorCode.InvalidParams, kind === 'uri' ? `Unknown resource: ${id}` : `Unknown prompt: ${id}`);
    return owner;
  };
  const relay = (method: ServerRpcMethod, params: Record<string, unknown>, owner: () => string): Promise<never> =>
    guarded(async () => {
      const name = owner();
      return (await bus.serverRpc(name, method, params, scope.single !== undefined, timeouts.get(name) ?? config.settings.callTimeoutMs)) as never;
    });

  server.setRequestHandler('resources/read', (request) => relay('resources/read', { ...request.params }, () => ownerOf(request.params.uri, 'uri')));
  server.setRequestHandler('prompts/get', (request) => relay('prompts/get', { ...request.params }, () => ownerOf(request.params.name, 'name')));
  server.setRequestHandler('completion/complete', (request) => {
    const ref = request.params.ref;
    return relay('completion/complete', { ...request.params }, () => (ref.type === 'ref/prompt' ? ownerOf(ref.name, 'name') : ownerOf(ref.uri, 'uri')));
  });

  return server;
}
