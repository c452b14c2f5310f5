import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, startFixtureSse, type FixtureHttpHandle, type FixtureSseHandle } from '@mcpbus/fixture-server';
import { connectClient, textOf } from '../harness/clients.js';
import { fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { eventually } from '../harness/wait.js';

let http: FixtureHttpHandle;
let sse: FixtureSseHandle;
let gateway: TestGateway;

beforeAll(async () => {
  process.env['MCPBUS_TEST_SECRET'] = 'must-not-leak';
  http = await startFixtureHttp({ port: 0 });
  sse = await startFixtureSse({ port: 0 });
  gateway = await startGateway({
    servers: {
      fx: fixtureStdio({ env: { VISIBLE: 'yes' } }),
      web: { url: http.url },
      old: { url: sse.url },
    },
  });
});

afterAll(async () => {
  delete process.env['MCPBUS_TEST_SECRET'];
  await gateway?.close();
  await http?.close();
  await sse?.close();
});

/** POSTs one 2025-era tools/call with a progress token and returns the SSE messages in order. */
async function rawCallWithProgress(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  const res = await fetch(gateway.url, {
    method: 'POST',
    headers: { ...gateway.headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args, _meta: { progressToken: 'tok-1' } } }),
  });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const text = await res.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice('data: '.length)) as Record<string, unknown>);
}

describe('progress relay', () => {
  it.each(['fx', 'web', 'old'])('delivers every upstream progress notification of %s, in order, then the result', async (server) => {
    // delayMs 0: the last progress and the result leave the upstream back to back.
    for (let round = 0; round < 3; round += 1) {
      const messages = await rawCallWithProgress(`${server}-slow`, { steps: 5, delayMs: 0 });
      const progress = messages.filter((m) => m['method'] === 'notifications/progress').map((m) => m['params'] as { progress: number; progressToken: string });
      expect(progress.map((p) => p.progress)).toEqual([1, 2, 3, 4, 5]);
      expect(progress.every((p) => p.progressToken === 'tok-1')).toBe(true);
      const last = messages.at(-1) as { id?: number; result?: { content: { text: string }[] } };
      expect(last.id).toBe(7);
      expect(last.result?.content[0]?.text).toBe('done after 5 steps');
    }
  });
});

describe('isolation from the upstream', () => {
  it('never shows a client the upstream server identity', async () => {
    const client = await connectClient('v2-modern', gateway.url, gateway.headers);
    const result = await client.callTool('web-add', { a: 1, b: 2 });
    expect(JSON.stringify(result)).not.toContain('mcpbus-fixture');
    await client.close();
  });

  it('gives a stdio upstream its configured env and none of the gateway process environment', async () => {
    const client = await connectClient('v2-legacy', gateway.url, gateway.headers);
    expect(textOf(await client.callTool('fx-env', { name: 'VISIBLE' }))).toBe('yes');
    expect(textOf(await client.callTool('fx-env', { name: 'MCPBUS_TEST_SECRET' }))).toBe('');
    await client.close();
  });
});

describe('upstream sessions', () => {
  it('spreads calls over pool_size sessions', async () => {
    const pooled = await startGateway({
      servers: { pooled: fixtureStdio({ pool_size: 2 }) },
      inProcess: "counts the stdio sessions of one worker's pool (each worker process has a pool of its own)",
    });
    try {
      const client = await connectClient('v2-legacy', pooled.url, pooled.headers);
      const pids = await eventually(async () => {
        const seen = new Set<string>();
        for (const result of await Promise.all(Array.from({ length: 8 }, () => client.callTool('pooled-pid', {})))) seen.add(textOf(result));
        if (seen.size < 2) throw new Error(`only ${seen.size} session used`);
        return seen;
      });
      expect(pids.size).toBe(2);
      await client.close();
    } finally {
      await pooled.close();
    }
  });
});

describe('cancellation', () => {
  it('stops the upstream call when a 2026 client cancels', async () => {
    const client = await connectClient('v2-modern', gateway.url, gateway.headers);
    type Stats = { started: number; finished: number; cancelled: number };
    // The upstream in this process: every worker calls the same one (a stdio server is a child
    // per worker, each counting its own calls).
    const statsNow = async (): Promise<Stats> => JSON.parse(textOf(await client.callTool('web-slow_stats', {}))) as Stats;
    const before = await statsNow();
    const abort = new AbortController();
    const call = client.callTool('web-slow', { steps: 200, delayMs: 20 }, {
      signal: abort.signal,
      onprogress: (p) => {
        if (p.progress >= 2) abort.abort();
      },
    });
    await expect(call).rejects.toThrow();
    const after = await eventually(async () => {
      const s = await statsNow();
      if (s.cancelled === before.cancelled) throw new Error(`upstream not cancelled yet: ${JSON.stringify(s)}`);
      return s;
    }, { timeoutMs: 3_000 });
    expect({ started: after.started - before.started, finished: after.finished - before.finished, cancelled: after.cancelled - before.cancelled }).toEqual({
      started: 1,
      finished: 0,
      cancelled: 1,
    });
    await client.close();
  });
});
