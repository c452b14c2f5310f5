import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@mcpbus/logging';
import { openBucket, startKvMirror, type KvMirror } from '../src/kv-mirror.js';
import { createSeal } from '../src/seal.js';

// The mirror against the real NATS server (JetStream): what every replica's key and server
// lookups rest on.
let nc: NatsConnection;
const buckets: string[] = [];
const seal = createSeal('sk-test-salt');
type Value = { n: number };

beforeAll(async () => {
  nc = await connect({ servers: 'nats://127.0.0.1:4222', name: 'kv-mirror-test' });
});

afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  for (const bucket of buckets) await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
  await nc.drain();
});

function bucketName(): string {
  const name = `MCPBUS_TEST_${randomBytes(4).toString('hex').toUpperCase()}`;
  buckets.push(name);
  return name;
}

const decode = (value: unknown): Value | undefined => (typeof value === 'object' && value !== null && typeof (value as { n?: unknown }).n === 'number' ? (value as Value) : undefined);

async function mirrorOf(bucket: string, onChange?: (key: string, value: Value | undefined) => void): Promise<KvMirror<Value>> {
  const mirror = await startKvMirror<Value>(nc, { bucket, seal, decode, log: silentLogger(), ...(onChange === undefined ? {} : { onChange }) });
  await mirror.ready;
  return mirror;
}

describe('startKvMirror', () => {
  it('is ready with every value already stored, and follows writes and deletes made by another mirror', async () => {
    const bucket = bucketName();
    const writer = await mirrorOf(bucket);
    for (let i = 0; i < 50; i += 1) await writer.write(`k${i}`, { n: i });
    await writer.remove('k7');
    const changes: string[] = [];
    const reader = await mirrorOf(bucket, (key, value) => changes.push(`${key}=${value?.n ?? 'gone'}`));
    try {
      // The replay of what was stored counts as changes too (every key once).
      expect(changes).toHaveLength(49);
      changes.length = 0;
      expect(reader.size).toBe(49);
      expect(reader.get('k49')).toEqual({ n: 49 });
      expect(reader.get('k7')).toBeUndefined();
      await writer.write('k1', { n: 100 });
      await writer.remove('k2');
      // The writer has seen its own writes when they return; the reader within moments.
      expect(writer.get('k1')).toEqual({ n: 100 });
      for (let i = 0; i < 100 && changes.length < 2; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(changes).toEqual(['k1=100', 'k2=gone']);
      expect(reader.get('k2')).toBeUndefined();
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('ignores values it did not seal: forged, copied to another key, or sealed under another secret', async () => {
    const bucket = bucketName();
    const mirror = await mirrorOf(bucket);
    try {
      const kv = await openBucket(nc, bucket);
      await kv.put('plain', JSON.stringify({ n: 1 }));
      await kv.put('copied', seal.seal(bucket, 'original', { n: 2 }));
      await kv.put('foreign', createSeal('another-secret').seal(bucket, 'foreign', { n: 3 }));
      const good = await kv.put('good', seal.seal(bucket, 'good', { n: 4 }));
      for (let i = 0; i < 100 && mirror.get('good') === undefined; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(good).toBeGreaterThan(0);
      expect(mirror.get('good')).toEqual({ n: 4 });
      expect(mirror.get('plain')).toBeUndefined();
      expect(mirror.get('copied')).toBeUndefined();
      expect(mirror.get('foreign')).toBeUndefined();
      // What a reader of the bucket sees holds no value in clear.
      expect((await kv.get('good'))?.string()).not.toContain('"n"');
    } finally {
      await mirror.close();
    }
  });

  it('refuses a write that lost a race with another replica', async () => {
    const bucket = bucketName();
    const a = await mirrorOf(bucket);
    const b = await mirrorOf(bucket);
    try {
      await a.write('k', { n: 1 });
      for (let i = 0; i < 100 && b.get('k') === undefined; i += 1) await new Promise((r) => setTimeout(r, 10));
      // Both replicas hold revision 1; the first update wins, the second is refused, not applied.
      const results = await Promise.allSettled([a.write('k', { n: 2 }), b.write('k', { n: 3 })]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'conflict' } });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
