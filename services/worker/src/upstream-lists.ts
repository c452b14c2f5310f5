import type { Client } from '@modelcontextprotocol/client';
import { ErrorCode, McpbusError, type ServerFailure } from '@mcpbus/protocol';
import { requestFailure, upstreamFailure, type ServerSessions } from '@mcpbus/upstream';

/** More pages than this from one server is treated as a broken upstream, not a big list. */
const MAX_PAGES = 100;

export type ListMethod = 'tools/list' | 'resources/list' | 'resources/templates/list' | 'prompts/list';

/** Every page of one upstream list, items of `field` in order. */
export async function fetchAllPages(sessions: ServerSessions, client: Client, method: ListMethod, field: string, timeoutMs: number): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    let result: Record<string, unknown>;
    try {
      result = await client.request({ method, params: cursor === undefined ? {} : { cursor } }, { timeout: timeoutMs });
    } catch (err: unknown) {
      throw requestFailure(sessions, client, err, { timeoutMs, aborted: false });
    }
    const listed = result[field];
    if (Array.isArray(listed)) items.push(...(listed as Record<string, unknown>[]));
    cursor = typeof result['nextCursor'] === 'string' && result['nextCursor'] !== '' ? result['nextCursor'] : undefined;
    if (cursor === undefined) break;
  }
  return items;
}

/** `work`, or an `upstream_timeout` naming the server and what it did not finish, after `ms`. */
export function withDeadline<T>(work: Promise<T>, ms: number, server: string, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new McpbusError(ErrorCode.UpstreamTimeout, `upstream server "${server}" did not ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `fetch` for every server concurrently. One failing server never fails the whole: its
 * result is left out and its failure reported.
 */
export async function settleServers<T>(servers: readonly ServerSessions[], fetch: (sessions: ServerSessions) => Promise<T>, timeoutMs: number): Promise<{ results: { server: string; value: T }[]; failures: ServerFailure[] }> {
  const settled = await Promise.allSettled(servers.map(fetch));
  const results: { server: string; value: T }[] = [];
  const failures: ServerFailure[] = [];
  settled.forEach((outcome, i) => {
    const server = (servers[i] as ServerSessions).server.name;
    if (outcome.status === 'fulfilled') results.push({ server, value: outcome.value });
    else {
      const err = outcome.reason instanceof McpbusError ? outcome.reason : upstreamFailure(server, outcome.reason, { timeoutMs, aborted: false });
      failures.push({ server, code: err.code, message: err.message });
    }
  });
  return { results, failures };
}
