import { buildServerCatalog, type UpstreamTool } from '@mcpbus/catalog';
import type { CatalogTool, ServerFailure } from '@mcpbus/protocol';
import type { ServerSessions } from '@mcpbus/upstream';
import type { ServerConfig } from '@mcpbus/config';
import type { Logger } from 'pino';
import { SpanKind, catalogRefreshes, catalogTools, inSpan } from '@mcpbus/logging';
import { fetchAllPages, settleServers, withDeadline } from './upstream-lists.js';

/** A call to an unknown name refreshes a catalog at most this often, so callers cannot flood an upstream. */
const MISS_REFRESH_INTERVAL_MS = 2_000;

interface Entry {
  tools: CatalogTool[];
  byName: Map<string, CatalogTool>;
  byUpstreamName: Map<string, CatalogTool>;
  fetchedAt: number;
  stale: boolean;
}

export interface CatalogCache {
  /** Tools of the given servers; a server that fails or misses its deadline is reported, not thrown. */
  list(servers: readonly ServerSessions[], deadlineMs: number): Promise<{ tools: CatalogTool[]; failures: ServerFailure[] }>;
  /**
   * One tool by exposed name (or by upstream name); refreshes the server's catalog once if the
   * name is unknown.
   */
  find(sessions: ServerSessions, name: string, deadlineMs: number, byUpstreamName?: boolean): Promise<CatalogTool | undefined>;
  /** Marks a server's tools stale (upstream sent notifications/tools/list_changed). */
  invalidate(server: string): void;
}

export interface CatalogCacheOptions {
  ttlMs: number;
  separator: string;
  log: Logger;
}

/** Applies the server's `allowed_tools` / `disallowed_tools`; a filtered tool is unknown to clients. */
function isExposed(server: ServerConfig, tool: string): boolean {
  if (server.allowedTools !== undefined && !server.allowedTools.includes(tool)) return false;
  return server.disallowedTools === undefined || !server.disallowedTools.includes(tool);
}

/**
 * Each worker's view of the upstream catalogs: every page of `tools/list`, kept for `ttlMs`
 * or until the upstream reports a change. Concurrent refreshes of one server share one fetch.
 */
export function createCatalogCache(options: CatalogCacheOptions): CatalogCache {
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry>>();
  // Bumped by invalidate(): a refresh that started before a change notification is stored stale.
  const generations = new Map<string, number>();

  async function fetchAll(sessions: ServerSessions, timeoutMs: number): Promise<Entry> {
    const tools = (await fetchAllPages(sessions, await sessions.acquire(), 'tools/list', 'tools', timeoutMs)) as unknown as UpstreamTool[];
    const catalog = buildServerCatalog(sessions.server.name, tools.filter((t) => isExposed(sessions.server, t.name)), options.separator);
    return {
      tools: catalog,
      byName: new Map(catalog.map((t) => [t.name, t])),
      byUpstreamName: new Map(catalog.map((t) => [t.upstreamName, t])),
      fetchedAt: Date.now(),
      stale: false,
    };
  }

  function refresh(sessions: ServerSessions, deadlineMs: number): Promise<Entry> {
    const name = sessions.server.name;
    let pending = inflight.get(name);
    if (pending === undefined) {
      const generation = generations.get(name) ?? 0;
      pending = inSpan('upstream tools/list', { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': 'tools/list', 'mcpbus.server': name } }, () => fetchAll(sessions, deadlineMs))
        .then(
          (entry) => {
            if ((generations.get(name) ?? 0) !== generation) entry.stale = true;
            entries.set(name, entry);
            catalogRefreshes.inc({ server: name, outcome: 'ok' });
            catalogTools.set({ server: name }, entry.tools.length);
            options.log.debug({ server: name, tools: entry.tools.length }, 'catalog refreshed');
            return entry;
          },
          (err: unknown) => {
            catalogRefreshes.inc({ server: name, outcome: 'error' });
            throw err;
          },
        )
        .finally(() => inflight.delete(name));
      inflight.set(name, pending);
    }
    return withDeadline(pending, deadlineMs, name, 'list its tools');
  }

  function fresh(server: string): Entry | undefined {
    const entry = entries.get(server);
    return entry !== undefined && !entry.stale && Date.now() - entry.fetchedAt < options.ttlMs ? entry : undefined;
  }

  return {
    async list(servers, deadlineMs) {
      const { results, failures } = await settleServers(servers, async (s) => fresh(s.server.name) ?? refresh(s, deadlineMs), deadlineMs);
      for (const failure of failures) options.log.warn({ server: failure.server, err: failure.message }, 'server left out of tools/list');
      return { tools: results.flatMap((r) => r.value.tools), failures };
    },
    async find(sessions, toolName, deadlineMs, byUpstreamName = false) {
      const server = sessions.server.name;
      const lookup = (entry: Entry | undefined): CatalogTool | undefined => (byUpstreamName ? entry?.byUpstreamName : entry?.byName)?.get(toolName);
      const hit = lookup(fresh(server));
      if (hit !== undefined) return hit;
      const known = entries.get(server);
      if (known !== undefined && !known.stale && Date.now() - known.fetchedAt < MISS_REFRESH_INTERVAL_MS) return lookup(known);
      try {
        return lookup(await refresh(sessions, deadlineMs));
      } catch (err: unknown) {
        // The upstream cannot list right now; a tool it listed before is still worth trying.
        const stale = lookup(known);
        if (stale !== undefined) return stale;
        throw err;
      }
    },
    invalidate(server) {
      generations.set(server, (generations.get(server) ?? 0) + 1);
      const entry = entries.get(server);
      if (entry !== undefined) entry.stale = true;
    },
  };
}
