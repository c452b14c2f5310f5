import { ProtocolError, Server } from '@modelcontextprotocol/server';
import type { McpbusConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError, jsonRpcCodeOf, serverOfToolName } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls } from './bus-calls.js';

export const GATEWAY_INFO = { name: 'mcpbus', version: '0.1.0' } as const;
/** `_meta` key under which tools/list reports servers that are missing from the list. */
export const FAILURES_META_KEY = 'mcpbus/failures';

/** Turns gateway errors into JSON-RPC errors the SDK sends as they are (code and message). */
function toProtocolError(err: unknown, log: Logger): ProtocolError {
  if (err instanceof McpbusError) return new ProtocolError(jsonRpcCodeOf(err), err.message, err.data?.['server'] === undefined ? undefined : { server: err.data['server'] });
  log.error({ err: err instanceof Error ? err.message : String(err) }, 'unexpected ingress error');
  return new ProtocolError(-32603, 'Internal error');
}

/**
 * The MCP server one HTTP request talks to. It is built per request (cheap: two handlers) and
 * holds no state: tools/list and tools/call become NATS requests to the workers.
 */
export function createGatewayServer(config: McpbusConfig, bus: BusCalls, log: Logger): Server {
  const server = new Server(GATEWAY_INFO, { capabilities: { tools: {} } });
  const configured = new Map(config.servers.map((s) => [s.name, s]));

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
    const name = request.params.name;
    const serverName = serverOfToolName(name, config.settings.toolSeparator);
    const target = serverName === undefined ? undefined : configured.get(serverName);
    if (target === undefined) throw new ProtocolError(-32602, `Unknown tool: ${name}`);
    const token = ctx.mcpReq._meta?.progressToken;
    try {
      const result = await bus.callTool({
        server: target.name,
        name,
        arguments: request.params.arguments,
        timeoutMs: target.timeoutMs,
        signal: ctx.mcpReq.signal,
        ...(token === undefined
          ? {}
          : {
              onProgress: (p) =>
                ctx.mcpReq.notify({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => undefined),
            }),
      });
      return result as never;
    } catch (err: unknown) {
      // The SDK sends nothing for a request its client cancelled; any other cancellation
      // (a worker shutting down) is reported as what it is.
      if (err instanceof McpbusError && err.code === ErrorCode.Cancelled && ctx.mcpReq.signal.aborted) throw new ProtocolError(-32800, 'Request cancelled');
      throw toProtocolError(err, log);
    }
  });

  return server;
}
