import type { NatsConnection } from '@nats-io/transport-node';
import { parseServerEntry, type McpbusConfig, type ServerConfig } from '@mcpbus/config';
import { createSubjects } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { startKvMirror, type KvMirror } from './kv-mirror.js';
import { stdioProblems } from './stdio-policy.js';
import { storeSeal } from './store-seal.js';

/**
 * A server added through the admin API, as stored in NATS KV under its `server_id`. `entry` is
 * the server's `mcp_servers:` entry in JSON, secrets included: only workers and runners read it,
 * and the admin API never returns those fields unmasked.
 */
export interface StoredServer {
  readonly v: 1;
  readonly server_id: string;
  readonly server_name: string;
  readonly alias?: string;
  readonly description?: string;
  readonly entry: Readonly<Record<string, unknown>>;
  readonly created_at: string;
  readonly updated_at: string;
}

/** A server appeared (`server` only), changed (both) or went away (`previous` only). */
export interface ServerChange {
  readonly name: string;
  readonly server?: ServerConfig;
  readonly previous?: ServerConfig;
}

/** Every server a replica knows: config.yaml's (read-only) and the admin API's (live, from KV). */
export interface ServerDirectory {
  get(name: string): ServerConfig | undefined;
  all(): ServerConfig[];
  names(): ReadonlySet<string>;
  /** Whether the server came from config.yaml (read-only) or the admin API. */
  origin(name: string): 'config' | 'api' | undefined;
  /** The stored record of a server added through the API, by id or by name. */
  stored(idOrName: string): StoredServer | undefined;
  storedAll(): StoredServer[];
  /** The name a new or renamed server may not take, with why; undefined when it is free. */
  nameTaken(name: string, exceptId?: string): string | undefined;
  /**
   * What a grant stores for a server named by name or id: a config server's name, an API
   * server's `server_id` (so grants follow renames, and die with the server); undefined if none.
   */
  refOf(nameOrId: string): string | undefined;
  /** The current name of the server a grant's reference names, or undefined when it is gone. */
  resolveRef(ref: string): string | undefined;
  onChange(listener: (change: ServerChange) => void): () => void;
  /** Servers added through the API (undefined when no master key is set: there is no admin API). */
  readonly mirror: KvMirror<StoredServer> | undefined;
  close(): Promise<void>;
}

function decodeStoredServer(value: unknown): StoredServer | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const entryOk = typeof r['entry'] === 'object' && r['entry'] !== null && !Array.isArray(r['entry']);
  return r['v'] === 1 && typeof r['server_id'] === 'string' && typeof r['server_name'] === 'string' && entryOk ? (value as StoredServer) : undefined;
}

/**
 * Starts the replica's server directory. Changes made through the admin API on any replica reach
 * it through the KV watch; listeners (pools, catalogs, list_changed notifications) hear of each.
 */
export async function startServerDirectory(nc: NatsConnection, config: McpbusConfig, log: Logger): Promise<ServerDirectory> {
  const fromConfig = new Map(config.servers.map((s) => [s.name, s]));
  const fromApi = new Map<string, { id: string; server: ServerConfig }>();
  const listeners = new Set<(change: ServerChange) => void>();
  const emit = (change: ServerChange): void => {
    for (const listener of listeners) listener(change);
  };

  // Names and ids share one namespace: anything that takes either (grants, /v1/mcp/server/{id})
  // must never find two servers.
  const nameTaken = (name: string, exceptId?: string): string | undefined => {
    const lower = name.toLowerCase();
    for (const existing of fromConfig.keys()) if (existing.toLowerCase() === lower) return `a server named "${existing}" is configured in config.yaml`;
    for (const [existing, { id }] of fromApi) if (existing.toLowerCase() === lower && id !== exceptId) return `a server named "${existing}" exists (server_id ${id})`;
    for (const [id] of mirror?.entries() ?? []) if (id.toLowerCase() === lower && id !== exceptId) return `it is the server_id of another server`;
    return undefined;
  };

  function build(record: StoredServer): ServerConfig | undefined {
    const parsed = parseServerEntry(record.server_name, record.entry, config.settings);
    if ('problems' in parsed) {
      log.warn({ serverId: record.server_id, problems: parsed.problems }, 'stored server ignored: its entry is not valid');
      return undefined;
    }
    const server = parsed.server;
    // Checked again here, not only when written: the policy may have tightened since.
    if (server.transport === 'stdio') {
      const problems = stdioProblems({ command: server.command ?? '', args: server.args, env: server.env, ...(server.cwd === undefined ? {} : { cwd: server.cwd }) }, { commands: config.settings.apiStdioCommands });
      if (problems.length > 0) {
        log.warn({ serverId: record.server_id, problems }, 'stored server ignored: api_stdio_commands does not allow it');
        return undefined;
      }
    }
    const guarded = server.transport === 'http' || server.transport === 'sse';
    return guarded ? { ...server, ssrfAllowlist: config.settings.upstreamUrlAllowlist } : server;
  }

  function onStored(id: string, next: StoredServer | undefined, previous: StoredServer | undefined): void {
    const before = previous === undefined ? undefined : fromApi.get(previous.server_name);
    const owned = before !== undefined && before.id === id ? before : undefined;
    if (owned !== undefined && previous !== undefined) fromApi.delete(previous.server_name);
    const server = next === undefined ? undefined : build(next);
    const clash = next === undefined ? undefined : nameTaken(next.server_name, id);
    if (server !== undefined && next !== undefined && clash === undefined) fromApi.set(next.server_name, { id, server });
    else if (clash !== undefined) log.warn({ serverId: id, name: next?.server_name, clash }, 'stored server ignored: its name is taken');
    const added = server !== undefined && clash === undefined ? server : undefined;
    if (owned !== undefined && (added === undefined || added.name !== owned.server.name)) emit({ name: owned.server.name, previous: owned.server });
    if (added !== undefined) emit({ name: added.name, server: added, ...(owned !== undefined && owned.server.name === added.name ? { previous: owned.server } : {}) });
  }

  const seal = storeSeal(config);
  const bucket = createSubjects(config.settings.subjectRoot).buckets.servers;
  const mirror = seal === undefined ? undefined : await startKvMirror(nc, { bucket, seal, decode: decodeStoredServer, onChange: onStored, log });
  await mirror?.ready;

  return {
    get: (name) => fromConfig.get(name) ?? fromApi.get(name)?.server,
    all: () => [...fromConfig.values(), ...[...fromApi.values()].map((e) => e.server)],
    names: () => new Set([...fromConfig.keys(), ...fromApi.keys()]),
    origin: (name) => (fromConfig.has(name) ? 'config' : fromApi.has(name) ? 'api' : undefined),
    stored(idOrName) {
      const byId = mirror?.get(idOrName);
      if (byId !== undefined) return byId;
      const id = fromApi.get(idOrName)?.id;
      return id === undefined ? undefined : mirror?.get(id);
    },
    storedAll: () => [...(mirror?.entries() ?? [])].map(([, record]) => record),
    nameTaken,
    refOf(nameOrId) {
      if (fromConfig.has(nameOrId)) return nameOrId;
      const byName = fromApi.get(nameOrId);
      if (byName !== undefined) return byName.id;
      const byId = mirror?.get(nameOrId);
      return byId !== undefined && fromApi.get(byId.server_name)?.id === nameOrId ? nameOrId : undefined;
    },
    resolveRef(ref) {
      if (fromConfig.has(ref)) return ref;
      const record = mirror?.get(ref);
      return record !== undefined && fromApi.get(record.server_name)?.id === ref ? record.server_name : undefined;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    mirror,
    close: async () => mirror?.close(),
  };
}
