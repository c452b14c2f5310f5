import { ErrorCode, McpbusError } from '@mcpbus/protocol';

/**
 * One page of an aggregated list and the cursor of the next. The cursor is an opaque offset:
 * the aggregated lists come out in the same order from every replica, so any replica can serve
 * the next page. A cursor that does not decode is `invalid_params` (-32602).
 */
export function pageOf<T>(items: readonly T[], cursor: string | undefined, pageSize: number): { page: T[]; nextCursor?: string } {
  let offset = 0;
  if (cursor !== undefined) {
    const decoded = /^o(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (decoded === null) throw new McpbusError(ErrorCode.InvalidParams, `Invalid cursor: ${cursor.slice(0, 64)}`);
    offset = Number(decoded[1]);
  }
  const end = offset + pageSize;
  const page = items.slice(offset, end);
  return end < items.length ? { page, nextCursor: Buffer.from(`o${end}`, 'utf8').toString('base64url') } : { page };
}
