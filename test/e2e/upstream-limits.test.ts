import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { connect } from '@nats-io/transport-node';
import { apiKeyHeaders } from '@mcpbus/bus';
import { createSubjects, newCallId } from '@mcpbus/protocol';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { NATS_URL } from '../harness/paths.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

let http: FixtureHttpHandle;
let gateway: TestGateway;
/** Why these gateways run in this process under `pnpm test:topology`. */
const ONE_WORKER = 'max_concurrent_calls, max_queued_calls and the circuit breaker are kept per worker (docs/configuration.md): the test needs exactly one worker to reach them';

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  // One call at a time to `narrow`, one more may wait; `wide` (the same upstream) has the defaults.
  gateway = await startGateway({ servers: { narrow: { url: http.url, max_concurrent_calls: 1, max_queued_calls: 1, timeout_ms: 2_000 }, wide: { url: http.url } }, inProcess: ONE_WORKER });
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

const call = (name: string, args: Record<string, unknown>) => legacyRpc(gateway.url, gateway.headers, 'tools/call', { name, arguments: args }).then(responseOf);

describe('per-upstream bounds', () => {
  it('runs one call, lets one wait, refuses the next at once with -32012, and leaves other servers alone', async () => {
    const first = call('narrow-slow', { steps: 3, delayMs: 100 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = call('narrow-slow', { steps: 1, delayMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const startedAt = Date.now();
    const third = await call('narrow-echo', { text: 'x' });
    expect(Date.now() - startedAt).toBeLessThan(250);
    expect(third.error?.code).toBe(-32012);
    expect(third.error?.message).toContain('upstream server "narrow" has 1 calls running and 1 waiting');
    expect((await call('wide-echo', { text: 'unaffected' })).result).toBeDefined();
    expect((await first).result?.['content']).toEqual([{ type: 'text', text: 'done after 3 steps' }]);
    expect((await second).result?.['content']).toEqual([{ type: 'text', text: 'done after 1 steps' }]);
  });

  it('a call that waits past its deadline fails with a timeout, and frees its place in line', async () => {
    const hog = call('narrow-slow', { steps: 1, delayMs: 1_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // On the bus a caller sets its own deadline: 300 ms, well before the slot frees.
    const nc = await connect({ servers: NATS_URL });
    try {
      const body = { v: 1, callId: newCallId(), server: 'narrow', name: 'narrow-echo', arguments: { text: 'late' }, progress: false, deadlineAt: Date.now() + 300 };
      const reply = (await nc.request(createSubjects(gateway.config.settings.subjectRoot).toolsCall('narrow'), JSON.stringify(body), { timeout: 5_000, headers: apiKeyHeaders(MASTER_KEY) })).json<{ ok: boolean; error?: { code: string; message: string } }>();
      expect(reply.error?.code).toBe('timeout');
      expect(reply.error?.message).toContain('waited for a free slot');
    } finally {
      await nc.close();
    }
    await hog;
    expect((await call('narrow-echo', { text: 'now' })).result).toBeDefined();
  });
});

describe('circuit breaker', () => {
  it('pauses calls to an upstream that keeps timing out, then lets them through again', async () => {
    const breaker = await startGateway({ servers: { hangs: { url: http.url, timeout_ms: 150, circuit_breaker_failures: 3 } }, inProcess: ONE_WORKER });
    try {
      const callOn = (name: string, args: Record<string, unknown>) => legacyRpc(breaker.url, breaker.headers, 'tools/call', { name, arguments: args }).then(responseOf);
      for (let i = 0; i < 3; i += 1) expect((await callOn('hangs-sleep', { ms: 1_000 })).error?.code).toBe(-32001);
      const startedAt = Date.now();
      const paused = await callOn('hangs-echo', { text: 'x' });
      expect(Date.now() - startedAt).toBeLessThan(100);
      expect(paused.error?.code).toBe(-32010);
      expect(paused.error?.message).toContain('circuit open');
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect((await callOn('hangs-echo', { text: 'back' })).result?.['content']).toEqual([{ type: 'text', text: 'back' }]);
    } finally {
      await breaker.close();
    }
  });
});
