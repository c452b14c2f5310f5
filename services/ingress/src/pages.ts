import { ErrorCode, McpbusError } from '@mcpbus/protocol';

/**
 * One page of an aggregated list and the cursor of the next. The cursor names the last item of
 * the page, not an offset: the next page starts after that item in the list as it is built
 * then, on whichever replica, so items added or removed elsewhere in the list shift nothing.
 * When that item is gone, the client is told to list again (-32602) rather than being handed a
 * page that silently skips or repeats items. A cursor that does not decode is -32602 too.
 */
export function pageOf<T>(items: readonly T[], cursor: string | undefined, pageSize: number, idOf: (item: T) => string): { page: T[]; nextCursor?: string } {
  let start = 0;
  if (cursor !== undefined) {
    let after: unknown;
    try {
      after = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown }).after;
    } catch {
      after = undefined;
    }
    if (typeof after !== 'string') throw new McpbusError(ErrorCode.InvalidParams, `Invalid cursor: ${cursor.slice(0, 64)}`);
    const at = items.findIndex((item) => idOf(item) === after);
    if (at === -1) throw new McpbusError(ErrorCode.InvalidParams, 'The list changed since the previous page was served; list again from the start');
    start = at + 1;
  }
  const page = items.slice(start, start + pageSize);
  const last = page.at(-1);
  if (start + pageSize >= items.length || last === undefined) return { page };
  return { page, nextCursor: Buffer.from(JSON.stringify({ after: idOf(last) }), 'utf8').toString('base64url') };
}
