import { ProtocolError, SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';

/**
 * Turns what an upstream call threw into a McpbusError that names the server. The upstream's
 * own JSON-RPC errors keep their code; transport failures become `upstream_unavailable`;
 * SDK timeouts become `upstream_timeout` (unless the caller aborted, which is `cancelled`).
 */
export function upstreamFailure(server: string, err: unknown, context: { timeoutMs: number; aborted: boolean }): McpbusError {
  if (err instanceof McpbusError) return err;
  if (context.aborted) return new McpbusError(ErrorCode.Cancelled, `call to upstream server "${server}" was cancelled`, { cause: err });
  if (err instanceof ProtocolError)
    return new McpbusError(ErrorCode.UpstreamError, `upstream server "${server}" returned an error: ${err.message}`, {
      data: { server, jsonRpcCode: err.code },
      cause: err,
    });
  if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout)
    return new McpbusError(ErrorCode.UpstreamTimeout, `upstream server "${server}" did not answer within ${context.timeoutMs} ms`, { data: { server }, cause: err });
  const reason = err instanceof Error ? err.message : String(err);
  return new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server}" is unavailable: ${reason}`, { data: { server }, cause: err });
}
