import type { UpstreamSample } from '@mcpbus/logging';
import type { McpbusConfig, ServerConfig } from '@mcpbus/config';
import type { Logger } from 'pino';
import type { CallLimiter } from './call-limiter.js';
import { loadLocalTools, localToolsTransportFactory } from './local-tools.js';
import { createServerSessions, type ListKind, type ServerSessions } from './server-sessions.js';

/** The longest an old pool stays open for the calls it runs after its server changed. */
const RETIRE_MAX_MS = 10 * 60_000;

/** The servers a replica knows, and how it hears of servers added, changed or removed. */
export interface ServerSource {
  all(): readonly ServerConfig[];
  onChange(listener: (change: { name: string; server?: ServerConfig; previous?: ServerConfig }) => void): () => void;
}

/** Session pools by server name, following the server source as servers come and go. */
export interface ServerPools {
  get(name: string): ServerSessions | undefined;
  values(): IterableIterator<ServerSessions>;
  keys(): IterableIterator<string>;
  close(): Promise<void>;
}

export interface ServerPoolsOptions {
  /** An upstream said one of its lists changed. */
  onListChanged?: (server: string, kind: ListKind) => void;
  /** A server was added, changed or removed (its pool is already replaced). */
  onServerChanged?: (server: string) => void;
}

/**
 * The session pools of every server, `mcp_tools:` included (served in-process over an in-memory
 * transport). Workers and runners each keep their own. A missing local tool module fails here,
 * at start-up, naming the tool. A server changed through the admin API gets a fresh pool; the old
 * one stays open for the calls running on it (up to their timeout), then closes.
 */
export async function startServerPools(config: McpbusConfig, source: ServerSource, log: Logger, options: ServerPoolsOptions = {}): Promise<ServerPools> {
  const localTools = await loadLocalTools(config.localTools);
  const pools = new Map<string, ServerSessions>();
  const open = (server: ServerConfig): ServerSessions =>
    createServerSessions({
      server,
      log,
      ...(options.onListChanged === undefined ? {} : { onListChanged: (kind: ListKind) => options.onListChanged?.(server.name, kind) }),
      ...(server.transport === 'local' ? { transportFactory: localToolsTransportFactory(localTools) } : {}),
    });
  for (const server of source.all()) pools.set(server.name, open(server));
  const retiring = new Map<NodeJS.Timeout, ServerSessions>();
  const stop = source.onChange(({ name, server }) => {
    const old = pools.get(name);
    if (server === undefined) pools.delete(name);
    else pools.set(name, open(server));
    if (old !== undefined) {
      // New calls get the new pool at once; calls already running on the old one may finish.
      const graceMs = Math.min(RETIRE_MAX_MS, Math.max(old.server.timeoutMs, old.server.jobTimeoutMs) + 5_000);
      const timer = setTimeout(() => {
        retiring.delete(timer);
        void old.close().catch(() => undefined);
      }, graceMs);
      timer.unref();
      retiring.set(timer, old);
    }
    log.info({ server: name, change: server === undefined ? 'removed' : old === undefined ? 'added' : 'changed' }, 'server pool follows a server change');
    options.onServerChanged?.(name);
  });
  return {
    get: (name) => pools.get(name),
    values: () => pools.values(),
    keys: () => pools.keys(),
    async close() {
      stop();
      for (const timer of retiring.keys()) clearTimeout(timer);
      await Promise.allSettled([...pools.values(), ...retiring.values()].map((s) => s.close()));
      retiring.clear();
    },
  };
}

/** One server's shared pool and call lane right now (what the role gauges sample). */
export type UpstreamState = UpstreamSample;

/**
 * Each server's shared pool (sessions per caller credentials are not counted) and call lane, for
 * metrics: what a worker or runner reports at scrape time.
 */
export function upstreamStates(pools: ServerPools, limiter: CallLimiter): UpstreamState[] {
  const states = new Map<string, UpstreamState>();
  for (const pool of pools.values()) states.set(pool.server.name, { server: pool.server.name, ...pool.stats(), running: 0, waiting: 0, circuitOpen: false });
  for (const lane of limiter.lanes()) {
    const state = states.get(lane.server);
    // The lane of a server removed since is not shown.
    if (state !== undefined) Object.assign(state, { running: lane.running, waiting: lane.waiting, circuitOpen: lane.circuitOpen });
  }
  return [...states.values()];
}
