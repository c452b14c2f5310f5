import { ProtocolError } from '@modelcontextprotocol/server';
import type { McpbusConfig, ServerConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError, jsonRpcCodeOf, messageOf, serverOfToolName } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls, ProgressUpdate } from './bus-calls.js';
import type { Scope } from './scope.js';

/** Turns gateway errors into JSON-RPC errors sent as they are (code and message). */
export function toProtocolError(err: unknown, log: Logger): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if (err instanceof McpbusError) {
    // A request its client cancelled gets no answer that matters.
    if (err.code === ErrorCode.Cancelled && err.data?.['byClient'] === true) return new ProtocolError(-32800, 'Request cancelled');
    return new ProtocolError(jsonRpcCodeOf(err), err.message, err.data?.['server'] === undefined ? undefined : { server: err.data['server'] });
  }
  log.error({ err: messageOf(err) }, 'unexpected ingress error');
  return new ProtocolError(-32603, 'Internal error');
}

export interface RelayCallRequest {
  name: string;
  arguments: Record<string, unknown> | undefined;
  scope: Scope;
  signal: AbortSignal;
  onProgress?: (update: ProgressUpdate) => Promise<void> | void;
}

/** Relays one `tools/call`; rejects with a McpbusError. */
export type CallRelay = (request: RelayCallRequest) => Promise<Record<string, unknown>>;

/**
 * The one implementation of `tools/call` at the ingress, whichever way the request came in (MCP,
 * the JSON fast path, REST): find the server (from the name's prefix, or the scope's single
 * server), refuse names outside the scope without a bus round trip, and call it over the bus.
 */
export function createCallRelay(config: McpbusConfig, bus: BusCalls): CallRelay {
  const configured = new Map<string, ServerConfig>(config.servers.map((s) => [s.name, s]));
  return async (request) => {
    const serverName = request.scope.single ?? serverOfToolName(request.name, config.settings.toolSeparator);
    const inScope = serverName !== undefined && (request.scope.servers === undefined || request.scope.servers.includes(serverName));
    const target = inScope ? configured.get(serverName) : undefined;
    if (target === undefined) throw new McpbusError(ErrorCode.UnknownTool, `Unknown tool: ${request.name}`);
    try {
      return await bus.callTool({
        server: target.name,
        name: request.name,
        byUpstreamName: request.scope.single !== undefined,
        arguments: request.arguments,
        timeoutMs: target.timeoutMs,
        signal: request.signal,
        ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
      });
    } catch (err: unknown) {
      if (err instanceof McpbusError && err.code === ErrorCode.Cancelled && request.signal.aborted)
        throw new McpbusError(ErrorCode.Cancelled, 'the client cancelled the request', { data: { byClient: true } });
      throw err;
    }
  };
}
