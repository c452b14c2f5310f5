import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskStore, jobKeys, type TaskStore } from '../src/index.js';

let redis: Redis;
let store: TaskStore;
const root = `t${randomBytes(6).toString('hex')}`;

const task = (taskId: string, owner = 'alice', ttlMs = 60_000, holdMs = 120_000) => ({ taskId, owner, server: 'fx', tool: 'fx-slow', ttlMs, holdMs, pollIntervalMs: 500 });

beforeAll(() => {
  redis = new Redis('redis://127.0.0.1:6379');
  store = createTaskStore(redis, root);
});

afterAll(async () => {
  const keys = await redis.keys(`mcpbus:${root}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('task store (real Redis)', () => {
  it('creates a task once and shows it to its owner only', async () => {
    expect(await store.create(task('a1'), 1_000)).toBe(true);
    expect(await store.create(task('a1'), 2_000)).toBe(false);
    const record = await store.get('a1', 'alice');
    expect(record?.info).toEqual({ taskId: 'a1', status: 'working', createdAt: 1_000, lastUpdatedAt: 1_000, ttlMs: 60_000, pollIntervalMs: 500, server: 'fx', tool: 'fx-slow', events: 0 });
    expect(await store.get('a1', 'bob')).toBeUndefined();
    expect(await store.get('nope')).toBeUndefined();
    // Until it ends a task is held long enough to wait and run; then it is kept for its TTL.
    expect(await redis.pttl(jobKeys(root).task('a1'))).toBeGreaterThan(119_000);
    await store.finish('a1', 'completed', { ok: true, result: { content: [], isError: true } });
    const ttl = await redis.pttl(jobKeys(root).task('a1'));
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect((await store.get('a1'))?.info.resultIsError).toBe(true);
  });

  it('counts starts, keeps progress, and lets only the first terminal status stand', async () => {
    await store.create(task('b1'));
    expect(await store.start('b1', 'running')).toEqual({ status: 'working', runs: 1, events: 0 });
    await store.progress('b1', { progress: 2, total: 4 }, 2);
    expect(await store.start('b1')).toEqual({ status: 'working', runs: 2, events: 2 });
    const cancelled = await store.finish('b1', 'cancelled', { ok: false, error: { code: 'cancelled', message: 'stop' } }, 'stop');
    expect(cancelled.changed).toBe(true);
    expect(cancelled.record?.info).toMatchObject({ status: 'cancelled', statusMessage: 'stop', progress: { progress: 2, total: 4 }, events: 2 });
    // Work that finishes after the cancel does not change the outcome.
    const late = await store.finish('b1', 'completed', { ok: true, result: { content: [] } });
    expect(late.changed).toBe(false);
    expect(late.record?.outcome).toEqual({ ok: false, error: { code: 'cancelled', message: 'stop' } });
    await store.progress('b1', { progress: 3 }, 3);
    expect((await store.get('b1'))?.info.events).toBe(2);
    expect(await store.start('b1')).toEqual({ status: 'cancelled', runs: 0, events: 2 });
    expect(await store.start('missing')).toBeUndefined();
  });

  it('lists an owner’s tasks oldest first, a page at a time, across equal creation times', async () => {
    const owner = 'lister';
    for (const [i, id] of ['l3', 'l1', 'l2', 'l4', 'l5'].entries()) await store.create(task(id, owner), 5_000 + (i < 3 ? 0 : i));
    await store.create(task('other', 'someone-else'), 5_000);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const { records, nextCursor } = await store.list(owner, cursor, 2);
      seen.push(...records.map((r) => r.info.taskId));
      if (nextCursor === undefined) break;
      cursor = nextCursor;
    }
    expect(seen).toEqual(['l1', 'l2', 'l3', 'l4', 'l5']);
    await expect(store.list(owner, 'not-a-cursor', 2)).rejects.toThrow('Invalid cursor');
  });

  it('drops expired tasks from the list', async () => {
    await store.create(task('e1', 'expiring', 60_000));
    await store.create(task('e2', 'expiring', 60_000));
    await redis.del(jobKeys(root).task('e1'));
    expect((await store.list('expiring', undefined, 10)).records.map((r) => r.info.taskId)).toEqual(['e2']);
    expect(await redis.zcard(jobKeys(root).ownerTasks('expiring'))).toBe(1);
    await store.remove('e2', 'expiring');
    expect(await store.get('e2')).toBeUndefined();
    expect(await redis.zcard(jobKeys(root).ownerTasks('expiring'))).toBe(0);
  });
});
