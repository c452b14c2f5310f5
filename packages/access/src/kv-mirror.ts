import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { messageOf } from '@mcpbus/protocol';
import type { Logger } from 'pino';

/** One change seen by a mirror: the new value, or undefined when the entry was deleted. */
export type MirrorChange<T> = (key: string, value: T | undefined, previous: T | undefined) => void;

/**
 * A process's live copy of one KV bucket. Every replica keeps its own and watches the bucket,
 * so a write on any replica (a revoked key, a new server) is seen everywhere within
 * milliseconds, and lookups never leave the process.
 */
export interface KvMirror<T> {
  get(key: string): T | undefined;
  entries(): IterableIterator<[string, T]>;
  readonly size: number;
  /** The bucket, for writes. Readers use the mirror. */
  readonly kv: KV;
  /** Resolves once the values present when the mirror started have all been read. */
  readonly ready: Promise<void>;
  /**
   * Resolves once this mirror has seen the write of `revision` (or after `timeoutMs`), so a
   * replica answers its own admin writes with its lookups already up to date.
   */
  caughtUp(revision: number, timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface KvMirrorOptions<T> {
  bucket: string;
  /** A stored value, or undefined (logged and ignored) when it is not one. */
  decode: (value: unknown) => T | undefined;
  onChange?: MirrorChange<T>;
  log: Logger;
}

/** Opens (creating if needed) a KV bucket holding one value per key. */
export async function openBucket(nc: NatsConnection, bucket: string): Promise<KV> {
  return new Kvm(nc).create(bucket, { history: 1, storage: 'file' });
}

export async function startKvMirror<T>(nc: NatsConnection, options: KvMirrorOptions<T>): Promise<KvMirror<T>> {
  let kv: KV;
  try {
    kv = await openBucket(nc, options.bucket);
  } catch (err: unknown) {
    throw new Error(`cannot open the NATS KV bucket ${options.bucket} (keys, teams and servers live there; is JetStream enabled on nats-server?): ${messageOf(err)}`, { cause: err });
  }
  const values = new Map<string, T>();
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
  const apply = (entry: KvEntry): void => {
    seen = Math.max(seen, entry.revision);
    for (const waiter of waiters) if (waiter.revision <= seen) waiter.done(true);
    const previous = values.get(entry.key);
    let next: T | undefined;
    if (entry.operation === 'PUT') {
      try {
        next = options.decode(entry.json());
      } catch (err: unknown) {
        options.log.warn({ bucket: options.bucket, key: entry.key, err: messageOf(err) }, 'unreadable KV entry ignored');
      }
      if (next === undefined) options.log.warn({ bucket: options.bucket, key: entry.key }, 'malformed KV entry ignored');
    }
    if (next === undefined) values.delete(entry.key);
    else values.set(entry.key, next);
    if (previous !== undefined || next !== undefined) options.onChange?.(entry.key, next, previous);
  };
  void (async () => {
    for await (const entry of watcher) {
      apply(entry);
      if (entry.revision >= lastAtStart) markReady();
    }
  })().catch((err: unknown) => options.log.error({ bucket: options.bucket, err: messageOf(err) }, 'KV watch ended'));
  return {
    get: (key) => values.get(key),
    entries: () => values.entries(),
    get size() {
      return values.size;
    },
    kv,
    ready,
    caughtUp(revision, timeoutMs = 2_000) {
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
    },
    close: () => {
      watcher.stop();
      markReady();
      return Promise.resolve();
    },
  };
}
