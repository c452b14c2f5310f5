import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, McpbusError, messageOf } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { Seal } from './seal.js';

/** One change seen by a mirror: the new value, or undefined when the entry was deleted. */
export type MirrorChange<T> = (key: string, value: T | undefined, previous: T | undefined) => void;

/**
 * A process's live copy of one KV bucket. Every replica keeps its own and watches the bucket,
 * so a write on any replica (a revoked key, a new server) is seen everywhere within
 * milliseconds, and lookups never leave the process. Values are sealed (see seal.ts): one that
 * does not open is ignored. Writes are compare-and-set against the revision the mirror holds.
 */
export interface KvMirror<T> {
  get(key: string): T | undefined;
  entries(): IterableIterator<[string, T]>;
  readonly size: number;
  /** Resolves once the values present when the mirror started have all been read. */
  readonly ready: Promise<void>;
  /**
   * Writes `value` under `key` if nobody changed the key since this mirror last saw it (a new key:
   * if it does not exist), then waits until this mirror has the write, so the next lookup on
   * this replica sees it. A lost race is a `conflict` error.
   */
  write(key: string, value: T): Promise<void>;
  /** Deletes `key` and waits until this mirror has forgotten it. */
  remove(key: string): Promise<void>;
  /**
   * `key` as the bucket holds it now: when another replica has just written it and this mirror
   * has not seen the write yet, waits (briefly) until it has.
   */
  refresh(key: string): Promise<T | undefined>;
  close(): Promise<void>;
}

export interface KvMirrorOptions<T> {
  bucket: string;
  seal: Seal;
  /** A stored value, or undefined (logged and ignored) when it is not one. */
  decode: (value: unknown) => T | undefined;
  onChange?: MirrorChange<T>;
  log: Logger;
}

/** Opens (creating when absent) a KV bucket on disk keeping one value per key; with `ttlMs`, a key unwritten that long is gone. */
export async function openBucket(nc: NatsConnection, bucket: string, options: { ttlMs?: number } = {}): Promise<KV> {
  return new Kvm(nc).create(bucket, { history: 1, storage: 'file', ...(options.ttlMs === undefined ? {} : { ttl: options.ttlMs }) });
}

/** JetStream's "wrong last sequence": someone wrote the key since the revision we hold. */
function isLostRace(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 10071 || /wrong last sequence/i.test(messageOf(err));
}

export async function startKvMirror<T>(nc: NatsConnection, options: KvMirrorOptions<T>): Promise<KvMirror<T>> {
  const { bucket, seal, log } = options;
  let kv: KV;
  try {
    kv = await openBucket(nc, bucket);
  } catch (err: unknown) {
    throw new Error(`cannot open the NATS KV bucket ${bucket} (keys, teams and servers live there; is JetStream enabled on nats-server?): ${messageOf(err)}`, { cause: err });
  }
  const values = new Map<string, T>();
  const revisions = new Map<string, number>();
  const status = await kv.status();
  // The watcher replays the last value of every key first; the one at the stream's last
  // sequence at start-up marks the end of that replay.
  const lastAtStart = status.streamInfo.state.last_seq;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  if (lastAtStart === 0 || status.values === 0) markReady();
  const watcher = await kv.watch();
  let seen = 0;
  const waiters = new Set<{ revision: number; done: (ok: boolean) => void }>();

  const read = (entry: KvEntry): T | undefined => {
    if (entry.operation !== 'PUT') return undefined;
    const opened = seal.open(bucket, entry.key, entry.string());
    const value = opened === undefined ? undefined : options.decode(opened);
    if (value === undefined) log.warn({ bucket, key: entry.key }, 'KV entry ignored: it is not sealed by this deployment (written outside the admin API, or under another salt key) or not well formed');
    return value;
  };

  const apply = (entry: KvEntry): void => {
    seen = Math.max(seen, entry.revision);
    revisions.set(entry.key, entry.revision);
    const previous = values.get(entry.key);
    const next = read(entry);
    if (next === undefined) values.delete(entry.key);
    else values.set(entry.key, next);
    if (previous !== undefined || next !== undefined) options.onChange?.(entry.key, next, previous);
    for (const waiter of waiters) if (waiter.revision <= seen) waiter.done(true);
  };
  void (async () => {
    for await (const entry of watcher) {
      apply(entry);
      if (entry.revision >= lastAtStart) markReady();
    }
  })().catch((err: unknown) => log.error({ bucket, err: messageOf(err) }, 'KV watch ended'));

  function caughtUp(revision: number, timeoutMs = 2_000): Promise<boolean> {
    if (revision <= seen) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        revision,
        done: (ok: boolean) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      waiters.add(waiter);
    });
  }

  return {
    get: (key) => values.get(key),
    entries: () => values.entries(),
    get size() {
      return values.size;
    },
    ready,
    async write(key, value) {
      const sealed = seal.seal(bucket, key, value);
      // The revision of whatever the key holds now (a value, a deletion, or a value we ignored).
      const known = revisions.get(key);
      let revision: number;
      try {
        revision = known === undefined ? await kv.create(key, sealed) : await kv.update(key, sealed, known);
      } catch (err: unknown) {
        if (isLostRace(err)) throw new McpbusError(ErrorCode.Conflict, `${key} was changed by another request meanwhile; read it again and retry`, { cause: err });
        throw err;
      }
      await caughtUp(revision);
    },
    async refresh(key) {
      const entry = await kv.get(key).catch(() => null);
      if (entry !== null) await caughtUp(entry.revision, 1_000);
      return values.get(key);
    },
    async remove(key) {
      await kv.delete(key);
      const marker = await kv.get(key);
      if (marker !== null) await caughtUp(marker.revision);
    },
    close: () => {
      watcher.stop();
      markReady();
      return Promise.resolve();
    },
  };
}
