import type { IncomingMessage } from 'node:http';
import { ErrorCode, MAX_JSON_DEPTH, McpbusError, nestsDeeperThan } from '@mcpbus/protocol';

/**
 * Reads and parses a JSON body, refusing more than `limitBytes` (checked against
 * Content-Length first, then while streaming) with `payload_too_large`.
 */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  const tooLarge = (): McpbusError =>
    new McpbusError(ErrorCode.PayloadTooLarge, `Request body is larger than ${limitBytes} bytes (mcpbus_settings.max_body_bytes, capped by the NATS max_payload)`);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limitBytes) throw tooLarge();
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new McpbusError(ErrorCode.ParseError, 'Parse error: the request body is empty');
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err: unknown) {
    throw new McpbusError(ErrorCode.ParseError, `Parse error: ${err instanceof Error ? err.message : 'invalid JSON'}`, { cause: err });
  }
  if (nestsDeeperThan(value)) throw new McpbusError(ErrorCode.BadRequest, `The request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}
