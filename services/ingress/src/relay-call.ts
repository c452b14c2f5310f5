import { ProtocolError } from '@modelcontextprotocol/server';
import type { McpbusConfig, ServerConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError, jsonRpcCodeOf, messageOf, serverOfToolName } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { BusCalls, ProgressUpdate } from './bus-calls.js';

/** Turns gateway errors into JSON-RPC errors sent as they are (code and message). */
export function toProtocolError(err: unknown, log: Logger): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if (err instanceof McpbusError) return new ProtocolError(jsonRpcCodeOf(err), err.message, err.data?.['server'] === undefined ? undefined : { server: err.data['server'] });
  log.error({ err: messageOf(err) }, 'unexpected ingress error');
  return new ProtocolError(-32603, 'Internal error');
}

export interface RelayCallRequest {
  name: string;
  arguments: Record<string, unknown> | undefined;
  signal: AbortSignal;
  onProgress?: (update: ProgressUpdate) => Promise<void> | void;
}

/** What one ingress needs to relay `tools/call`: its config, and the bus. */
export interface CallRelay {
  (request: RelayCallRequest): Promise<Record<string, unknown>>;
}

/**
 * The one implementation of `tools/call` at the ingress, whichever way the request came in:
 * find the server from the name's prefix (unknown → -32602 without a bus round trip), call it
 * over the bus, and turn failures into JSON-RPC errors.
 */
export function createCallRelay(config: McpbusConfig, bus: BusCalls, log: Logger): CallRelay {
  const configured = new Map<string, ServerConfig>(config.servers.map((s) => [s.name, s]));
  return async (request) => {
    const serverName = serverOfToolName(request.name, config.settings.toolSeparator);
    const target = serverName === undefined ? undefined : configured.get(serverName);
    if (target === undefined) throw new ProtocolError(-32602, `Unknown tool: ${request.name}`);
    try {
      return await bus.callTool({
        server: target.name,
        name: request.name,
        arguments: request.arguments,
        timeoutMs: target.timeoutMs,
        signal: request.signal,
        ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
      });
    } catch (err: unknown) {
      // A request its client cancelled gets no answer that matters; any other cancellation
      // (a worker shutting down) is reported as what it is.
      if (err instanceof McpbusError && err.code === ErrorCode.Cancelled && request.signal.aborted) throw new ProtocolError(-32800, 'Request cancelled');
      throw toProtocolError(err, log);
    }
  };
}
