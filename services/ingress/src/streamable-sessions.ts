import { randomUUID } from 'node:crypto';
import { openBucket, type KV } from '@mcpbus/access';
import type { NatsConnection } from '@mcpbus/bus';
import { messageOf, type Subjects } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { isJsonObject } from './json-object.js';

/** A session unused this long is forgotten (the KV bucket's TTL; each use within it renews it). */
export const SESSION_IDLE_MS = 24 * 3_600_000;
/** A session is written back (renewing its TTL) at most this often. */
const RENEW_AFTER_MS = 3_600_000;
/** How long a replica trusts what it read of a session (changes elsewhere arrive sooner through a watch). */
const CACHE_MS = 5_000;
const CACHE_MAX = 20_000;
const SESSION_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * What a 2025-era Streamable HTTP session is to mcpbus: whose it is (the fingerprint of the key
 * that opened it: no other key may use it) and what its client declared at `initialize`. Kept in
 * NATS KV, so every replica serves the session's requests: no sticky routing.
 */
export interface SessionRecord {
  v: 1;
  owner: string;
  capabilities: Record<string, unknown>;
  protocolVersion: string;
  /** Set by the client's `logging/setLevel`: its calls then carry the upstreams' log messages. */
  logLevel?: string;
  /** The resources it subscribed to (as it names them): its GET stream gets their updates. */
  resources?: string[];
  /** When it was last written (its TTL counts from then). */
  touchedAt: number;
}

export type SessionLookup = { found: SessionRecord } | { missing: true } | { unknown: true };

export interface StreamableSessions {
  /** A new session for an `initialize` request; undefined when none can be stored now (the client is then served without one). */
  create(owner: string, initialize: Record<string, unknown>): Promise<string | undefined>;
  /**
   * The session, `missing` when this gateway has no such session for this key (the client must
   * initialize again), or `unknown` when it cannot tell right now (NATS away): then the request is
   * served without what the session knows.
   */
  find(id: string, owner: string): Promise<SessionLookup>;
  /** Records the session's `logging/setLevel`; false when it was not this key's session. */
  setLogLevel(id: string, owner: string, level: string): Promise<boolean>;
  /** Changes the session's resource subscriptions; false when it was not this key's session. */
  setResources(id: string, owner: string, change: (uris: readonly string[]) => string[]): Promise<boolean>;
  /** Calls `listener` whenever the session's record changes on any replica; returns the way to stop. */
  onChange(id: string, listener: () => void): () => void;
  /** Ends the session (DELETE); false when it was not this key's. */
  remove(id: string, owner: string): Promise<boolean>;
  close(): void;
}

function decode(value: Uint8Array): SessionRecord | undefined {
  try {
    const record: unknown = JSON.parse(new TextDecoder().decode(value));
    if (!isJsonObject(record) || record['v'] !== 1 || typeof record['owner'] !== 'string' || !isJsonObject(record['capabilities'])) return undefined;
    return record as unknown as SessionRecord;
  } catch {
    return undefined;
  }
}

export async function openStreamableSessions(nc: NatsConnection, subjects: Subjects, log: Logger): Promise<StreamableSessions> {
  let kv: KV | undefined;
  let stopWatching = (): void => undefined;
  try {
    kv = await openBucket(nc, subjects.buckets.sessions, { ttlMs: SESSION_IDLE_MS });
  } catch (err: unknown) {
    log.warn({ err: messageOf(err) }, '2025-era clients are served without sessions: the sessions KV bucket cannot be opened (is JetStream enabled?)');
  }
  const cache = new Map<string, { record: SessionRecord | undefined; until: number }>();
  const changeListeners = new Map<string, Set<() => void>>();
  // What another replica writes (a level set, a session ended) replaces what this one cached.
  if (kv !== undefined) {
    try {
      const watcher = await kv.watch({ include: 'updates' });
      void (async () => {
        for await (const entry of watcher) {
          cache.delete(entry.key);
          for (const listener of changeListeners.get(entry.key) ?? []) listener();
        }
      })().catch(() => undefined);
      stopWatching = () => watcher.stop();
    } catch (err: unknown) {
      log.debug({ err: messageOf(err) }, 'sessions are not watched; cached ones go stale for up to 5 s');
    }
  }
  const remember = (id: string, record: SessionRecord | undefined): void => {
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
    cache.set(id, { record, until: Date.now() + CACHE_MS });
  };
  /**
   * Changes a session's record where it is stored: read, changed, written back only if nobody
   * wrote it meanwhile (else read again), so concurrent changes on two replicas both hold and a
   * deleted session is not written back. False when there is no such session of this owner.
   */
  const modify = async (id: string, owner: string, change: (record: SessionRecord) => SessionRecord): Promise<boolean> => {
    if (kv === undefined) return false;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const entry = await kv.get(id);
      const stored = entry === null || entry.operation !== 'PUT' ? undefined : decode(entry.value);
      if (entry === null || stored === undefined || stored.owner !== owner) return false;
      const next = { ...change(stored), touchedAt: Date.now() };
      try {
        await kv.update(id, JSON.stringify(next), entry.revision);
        remember(id, next);
        return true;
      } catch (err: unknown) {
        if (!/wrong last sequence/i.test(messageOf(err))) throw err;
      }
    }
    throw new Error(`session ${id} kept changing; its change was not written`);
  };

  const sessions: StreamableSessions = {
    async create(owner, initialize) {
      if (kv === undefined) return undefined;
      const id = randomUUID();
      const record: SessionRecord = {
        v: 1,
        owner,
        capabilities: isJsonObject(initialize['capabilities']) ? initialize['capabilities'] : {},
        protocolVersion: typeof initialize['protocolVersion'] === 'string' ? initialize['protocolVersion'].slice(0, 32) : '',
        touchedAt: Date.now(),
      };
      try {
        await kv.create(id, JSON.stringify(record));
      } catch (err: unknown) {
        log.warn({ err: messageOf(err) }, 'a session could not be stored; the client is served without one');
        return undefined;
      }
      remember(id, record);
      return id;
    },
    async find(id, owner) {
      if (!SESSION_ID.test(id)) return { missing: true };
      let record: SessionRecord | undefined;
      const cached = cache.get(id);
      if (cached !== undefined && cached.until > Date.now()) record = cached.record;
      else {
        if (kv === undefined) return { unknown: true };
        try {
          const entry = await kv.get(id);
          record = entry === null || entry.operation !== 'PUT' ? undefined : decode(entry.value);
        } catch (err: unknown) {
          log.debug({ err: messageOf(err) }, 'session lookup failed');
          return { unknown: true };
        }
        remember(id, record);
      }
      // Another key's session is as good as none: its id tells a caller nothing.
      if (record === undefined || record.owner !== owner) return { missing: true };
      if (record.touchedAt < Date.now() - RENEW_AFTER_MS) {
        remember(id, { ...record, touchedAt: Date.now() });
        void modify(id, owner, (stored) => stored).catch(() => undefined);
      }
      return { found: record };
    },
    setLogLevel: (id, owner, level) => modify(id, owner, (record) => ({ ...record, logLevel: level })),
    setResources: (id, owner, change) => modify(id, owner, (record) => ({ ...record, resources: change(record.resources ?? []) })),
    onChange(id, listener) {
      const listeners = changeListeners.get(id) ?? new Set<() => void>();
      listeners.add(listener);
      changeListeners.set(id, listeners);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) changeListeners.delete(id);
      };
    },
    async remove(id, owner) {
      const found = await sessions.find(id, owner);
      if (!('found' in found)) return false;
      cache.delete(id);
      await kv?.delete(id).catch(() => undefined);
      remember(id, undefined);
      return true;
    },
    close: () => stopWatching(),
  };
  return sessions;
}
