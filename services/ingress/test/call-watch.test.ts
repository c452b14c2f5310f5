import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, encodeJson, type NatsConnection } from '@mcpbus/bus';
import type { ProgressEvent, ProgressUpdate, ResultEvent } from '@mcpbus/protocol';
import { watchCall } from '../src/call-watch.js';

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connectBus({ url: 'nats://127.0.0.1:4222', name: 'call-watch-test' });
});
afterAll(async () => {
  await nc.drain();
});

const subject = (): string => `test.${randomBytes(6).toString('hex')}.events`;
const progress = (seq: number): ProgressEvent => ({ v: 1, type: 'progress', callId: 'c1', seq, progress: seq });
const result = (events: number): ResultEvent => ({
  v: 1,
  type: 'result',
  callId: 'c1',
  events,
  task: { taskId: 'c1', status: 'completed', createdAt: 1, lastUpdatedAt: 2, ttlMs: 1000, pollIntervalMs: 100, server: 's', tool: 's-t', events },
  outcome: { ok: true, result: { content: [] } },
});

describe('watchCall (real NATS)', () => {
  it('delivers progress in sequence order, whatever order it arrives in, and resolves on the end event', async () => {
    const on = subject();
    const seen: number[] = [];
    const watch = watchCall(nc, on, (p: ProgressUpdate) => {
      seen.push(p.progress);
    });
    await nc.flush();
    for (const seq of [2, 1, 4, 3]) nc.publish(on, encodeJson(progress(seq)));
    nc.publish(on, encodeJson(result(4)));
    const end = await watch.ended;
    await watch.settle(end.events);
    watch.close();
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(end.outcome).toEqual({ ok: true, result: { content: [] } });
  });

  it('does not let one lost event hold back the progress after it', async () => {
    const on = subject();
    const seen: number[] = [];
    const watch = watchCall(nc, on, (p: ProgressUpdate) => {
      seen.push(p.progress);
    });
    await nc.flush();
    nc.publish(on, encodeJson(progress(1)));
    nc.publish(on, encodeJson(progress(3)));
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual([1]);
    // Event 2 never comes: after the gap timeout the relay goes on with 3.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(seen).toEqual([1, 3]);
    watch.close();
  });

  it('skips progress a late watcher missed and ignores malformed events', async () => {
    const on = subject();
    const seen: number[] = [];
    const watch = watchCall(nc, on, (p: ProgressUpdate) => {
      seen.push(p.progress);
    });
    await nc.flush();
    watch.skipTo(5);
    nc.publish(on, new TextEncoder().encode('not json'));
    nc.publish(on, encodeJson({ v: 1, type: 'progress', callId: 'c1' }));
    nc.publish(on, encodeJson(progress(5)));
    nc.publish(on, encodeJson(progress(6)));
    nc.publish(on, encodeJson(result(6)));
    await watch.settle((await watch.ended).events);
    watch.close();
    expect(seen).toEqual([6]);
  });
});
