import { Server } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { BusCalls } from './bus-calls.js';
import { toProtocolError, type CallRelay } from './relay-call.js';

export const GATEWAY_INFO = { name: 'mcpbus', version: '0.1.0' } as const;
/** `_meta` key under which tools/list reports servers that are missing from the list. */
export const FAILURES_META_KEY = 'mcpbus/failures';

/**
 * The MCP server one HTTP request talks to. It is built per request (cheap: two handlers) and
 * holds no state: tools/list and tools/call become NATS requests to the workers.
 */
export function createGatewayServer(bus: BusCalls, relayCall: CallRelay, log: Logger): Server {
  const server = new Server(GATEWAY_INFO, { capabilities: { tools: {} } });

  server.setRequestHandler('tools/list', async () => {
    try {
      const { tools, failures } = await bus.listTools();
      const result: { tools: Record<string, unknown>[]; _meta?: Record<string, unknown> } = { tools: tools.map((t) => t.tool) };
      if (failures.length > 0) result._meta = { [FAILURES_META_KEY]: failures };
      return result as never;
    } catch (err: unknown) {
      throw toProtocolError(err, log);
    }
  });

  server.setRequestHandler('tools/call', async (request, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    const result = await relayCall({
      name: request.params.name,
      arguments: request.params.arguments,
      signal: ctx.mcpReq.signal,
      ...(token === undefined
        ? {}
        : { onProgress: (p) => ctx.mcpReq.notify({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => undefined) }),
    });
    return result as never;
  });

  return server;
}
