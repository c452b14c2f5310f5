import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

let http: FixtureHttpHandle;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
});

afterAll(async () => {
  await Promise.allSettled(gateways.map((g) => g.close()));
  await http?.close();
});

async function limited(settings: Record<string, unknown>): Promise<TestGateway> {
  // No master key: every presented key is its own caller, with its own limits.
  const gateway = await startGateway({ servers: { web: { url: http.url } }, masterKey: null, ingresses: 2, workers: 2, settings });
  gateways.push(gateway);
  return gateway;
}

const call = (url: string, key: string, name = 'web-echo', args: Record<string, unknown> = { text: 'x' }) =>
  legacyRpc(url, { Authorization: `Bearer ${key}` }, 'tools/call', { name, arguments: args }).then(responseOf);

describe('per-key limits, across replicas', () => {
  it('refuses calls beyond the per-minute limit with -32029, for that key only', async () => {
    const gateway = await limited({ rate_limit_per_minute: 5 });
    // The window is a calendar minute: do not straddle its end.
    const toNextMinute = 60_000 - (Date.now() % 60_000);
    if (toNextMinute < 5_000) await new Promise((resolve) => setTimeout(resolve, toNextMinute + 100));
    // Alternate replicas: the count is shared through Redis.
    for (let i = 0; i < 5; i += 1) expect((await call(gateway.urls[i % 2] as string, 'alice')).result).toBeDefined();
    const refused = await call(gateway.urls[1] as string, 'alice');
    expect(refused.error?.code).toBe(-32029);
    expect(refused.error?.message).toContain('5 tool calls per minute');
    expect((await call(gateway.urls[0] as string, 'bob')).result).toBeDefined();
  });

  it('refuses a call beyond the concurrency limit, and admits again once one ends', async () => {
    const gateway = await limited({ max_concurrent_calls_per_key: 2 });
    const slow = [0, 1].map((i) => call(gateway.urls[i] as string, 'carol', 'web-slow', { steps: 4, delayMs: 100 }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const third = await call(gateway.urls[0] as string, 'carol');
    expect(third.error?.code).toBe(-32029);
    expect(third.error?.message).toContain('2 tool calls running at once');
    expect((await call(gateway.urls[0] as string, 'dave')).result).toBeDefined();
    for (const result of await Promise.all(slow)) expect(result.result).toBeDefined();
    expect((await call(gateway.urls[1] as string, 'carol')).result).toBeDefined();
  });
});
