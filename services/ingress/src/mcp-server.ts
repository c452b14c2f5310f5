import { Server } from '@modelcontextprotocol/server';
import { FAILURES_META_KEY } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls } from './bus-calls.js';
import { toProtocolError, type CallRelay } from './relay-call.js';
import type { Scope } from './scope.js';

export const GATEWAY_INFO = { name: 'mcpbus', version: '0.1.0' } as const;

/**
 * The MCP server one HTTP request talks to. It is built per request (cheap: two handlers) and
 * holds no state: tools/list and tools/call become NATS requests to the workers.
 */
export function createGatewayServer(scope: Scope, bus: BusCalls, relayCall: CallRelay, log: Logger): Server {
  const server = new Server(GATEWAY_INFO, { capabilities: { tools: {} } });

  server.setRequestHandler('tools/list', async () => {
    try {
      const { tools, failures } = await bus.listTools(scope.servers);
      // A single-server route shows the upstream's own names.
      const listed = tools.map((t) => (scope.single === undefined ? t.tool : { ...t.tool, name: t.upstreamName }));
      const result: { tools: Record<string, unknown>[]; _meta?: Record<string, unknown> } = { tools: listed };
      if (failures.length > 0) result._meta = { [FAILURES_META_KEY]: failures };
      return result as never;
    } catch (err: unknown) {
      throw toProtocolError(err, log);
    }
  });

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

  return server;
}
