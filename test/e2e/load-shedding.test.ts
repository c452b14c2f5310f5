import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { createSubjects } from '@mcpbus/protocol';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { NATS_URL } from '../harness/paths.js';
import { legacyRpc, responseOf, LEGACY_HEADERS } from '../harness/raw-mcp.js';

let http: FixtureHttpHandle;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
});

afterAll(async () => {
  await http?.close();
});

describe('max_inflight_requests', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway({ servers: { fx: { url: http.url } }, settings: { max_inflight_requests: 2 } });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('refuses requests beyond the bound at once with 503 and Retry-After, answers probes, and recovers', async () => {
    const ingress = gateway.urls[0] as string;
    const origin = new URL(ingress).origin;
    const slow = () => legacyRpc(ingress, gateway.headers, 'tools/call', { name: 'fx-slow', arguments: { steps: 1, delayMs: 800 } }).then(responseOf);
    const busy = [slow(), slow()];
    await new Promise((resolve) => setTimeout(resolve, 300));

    const startedAt = Date.now();
    const refused = await fetch(ingress, { method: 'POST', headers: { ...gateway.headers, ...LEGACY_HEADERS }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }) });
    expect(Date.now() - startedAt).toBeLessThan(500);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { error: { code: number; message: string } };
    expect(body.error.message).toContain('max_inflight_requests');

    // LiteLLM's REST routes are refused in their own error shape.
    const rest = await fetch(`${origin}/mcp-rest/tools/list`, { headers: gateway.headers });
    expect(rest.status).toBe(503);
    expect(((await rest.json()) as { detail: { error: string } }).detail.error).toBe('overloaded');

    // A balancer's probe still learns the replica is alive.
    expect((await fetch(`${origin}/health/liveliness`)).status).toBe(200);

    for (const done of await Promise.all(busy)) expect(done.result?.['content']).toEqual([{ type: 'text', text: 'done after 1 steps' }]);
    const after = responseOf(await legacyRpc(ingress, gateway.headers, 'tools/call', { name: 'fx-echo', arguments: { text: 'again' } }));
    expect(after.result?.['content']).toEqual([{ type: 'text', text: 'again' }]);
  });
});

describe('a call that runs as a job, taken by a worker that never answers', () => {
  let gateway: TestGateway;
  let nc: NatsConnection;
  const seen: { deadlineAt: number; receivedAt: number }[] = [];

  beforeAll(async () => {
    // No worker: a subscriber takes the call and stays silent, as a worker killed while queueing it would.
    gateway = await startGateway({ servers: { jobfx: { url: http.url, execution: 'job', timeout_ms: 60_000 } }, settings: { job_queue_timeout_ms: 500 }, workers: 0 });
    nc = await connect({ servers: NATS_URL });
    nc.subscribe(createSubjects(gateway.config.settings.subjectRoot).toolsCall('jobfx'), {
      callback: (_err, msg) => {
        seen.push({ deadlineAt: msg.json<{ deadlineAt: number }>().deadlineAt, receivedAt: Date.now() });
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await nc?.close();
    await gateway?.close();
  });

  it('fails in about job_queue_timeout_ms, not the server timeout_ms, and says what may have happened', async () => {
    const startedAt = Date.now();
    const reply = responseOf(await legacyRpc(gateway.url, gateway.headers, 'tools/call', { name: 'jobfx-echo', arguments: { text: 'x' } }));
    // 500 ms and the ingress's 1 s of grace; the server's own timeout_ms is 60 s.
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(reply.error?.message).toContain('runs as a job, and no worker confirmed it queued within 500 ms');
    expect(reply.error?.message).toContain('tasks/list');
    // The deadline the worker was given is the queueing window, so a late worker queues nothing.
    expect(seen).toHaveLength(1);
    expect((seen[0] as { deadlineAt: number }).deadlineAt - (seen[0] as { receivedAt: number }).receivedAt).toBeLessThanOrEqual(500);
  });
});
