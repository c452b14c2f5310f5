import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { alternatingFetch, textOf, withKey } from '../harness/clients.js';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { eventually } from '../harness/wait.js';

let http: FixtureHttpHandle;
let gateway: TestGateway;
let base: string;

beforeAll(async () => {
  // One upstream for every worker (a stdio server would be a child per worker, each with its own
  // slow_stats counts).
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({ servers: { fx: { url: http.url } }, ingresses: 2 });
  base = gateway.url.replace(/\/mcp$/, '');
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

async function connectSse(url: string, fetchImpl: typeof fetch = withKey(MASTER_KEY)): Promise<Client> {
  const client = new Client({ name: 'legacy-sse-test', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(url), { fetch: fetchImpl }));
  return client;
}

type CallResult = { content?: { type: string; text?: string }[] };

describe.each(['/sse', '/mcp/', '/mcp'])('the 1.x SDK SSEClientTransport on %s', (path) => {
  it('lists and calls tools, with progress over the stream', async () => {
    const client = await connectSse(`${base}${path}`);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('fx-echo');
      expect(textOf((await client.callTool({ name: 'fx-echo', arguments: { text: 'over sse' } })) as CallResult)).toBe('over sse');
      const progress: number[] = [];
      // The SDK client drops updates that reach it in one chunk with the result (its own race,
      // typescript-sdk#2580); spaced out, only the last one can.
      const slow = await client.callTool({ name: 'fx-slow', arguments: { steps: 4, delayMs: 50 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(slow as CallResult)).toBe('done after 4 steps');
      expect(progress.length).toBeGreaterThanOrEqual(3);
      await expect(client.callTool({ name: 'fx-nope', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    } finally {
      await client.close();
    }
  });
});

describe('legacy SSE sessions across replicas', () => {
  it('serve POSTs that land on the replica that does not hold the stream', async () => {
    const seen: string[] = [];
    const urls = gateway.urls.map((u) => u.replace(/\/mcp$/, '/sse'));
    const client = await connectSse(urls[0] ?? '', withKey(MASTER_KEY, alternatingFetch(urls, seen)));
    try {
      for (let i = 0; i < 4; i += 1) expect(textOf((await client.callTool({ name: 'fx-echo', arguments: { text: `hop ${i}` } })) as CallResult)).toBe(`hop ${i}`);
      const progress: number[] = [];
      await client.callTool({ name: 'fx-slow', arguments: { steps: 3, delayMs: 50 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(progress.length).toBeGreaterThanOrEqual(2);
    } finally {
      await client.close();
    }
    // Messages went to both replicas, so some reached the session through the other one.
    const messagePorts = new Set(seen.filter((u) => new URL(u).pathname === '/messages').map((u) => new URL(u).port));
    expect(messagePorts.size).toBe(2);
  });

  it('cancel the upstream call when a 2025 client sends notifications/cancelled', async () => {
    const client = await connectSse(`${base}/sse`);
    try {
      type Stats = { started: number; finished: number; cancelled: number };
      const stats = async (): Promise<Stats> => JSON.parse(textOf((await client.callTool({ name: 'fx-slow_stats', arguments: {} })))) as Stats;
      const before = await stats();
      const abort = new AbortController();
      const call = client.callTool({ name: 'fx-slow', arguments: { steps: 200, delayMs: 20 } }, undefined, {
        signal: abort.signal,
        onprogress: (p) => {
          if (p.progress >= 2) abort.abort('enough');
        },
      });
      await expect(call).rejects.toThrow();
      const after = await eventually(async () => {
        const s = await stats();
        if (s.cancelled === before.cancelled) throw new Error('not cancelled yet');
        return s;
      }, { timeoutMs: 3_000 });
      expect(after.cancelled - before.cancelled).toBe(1);
      expect(after.finished - before.finished).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('are gone once their stream closes, on every replica', async () => {
    const seen: string[] = [];
    const client = await connectSse(`${base}/sse`, withKey(MASTER_KEY, (input, init) => {
      seen.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    }));
    await client.listTools();
    const sessionId = new URL(seen.find((u) => u.includes('/messages')) ?? '').searchParams.get('sessionId');
    await client.close();
    await new Promise((r) => setTimeout(r, 100));
    for (const url of gateway.urls) {
      const res = await fetch(url.replace(/\/mcp$/, `/messages?sessionId=${sessionId ?? ''}`), {
        method: 'POST',
        headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
      });
      expect(res.status).toBe(404);
    }
  });

  it('refuse POSTs for unknown sessions, and unauthenticated streams', async () => {
    const post = (query: string): Promise<Response> =>
      fetch(`${base}/messages${query}`, { method: 'POST', headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
    expect((await post('?sessionId=0f8fad5b-d9cb-469f-a165-70867728950e')).status).toBe(404);
    expect((await post('')).status).toBe(400);
    expect((await fetch(`${base}/sse`, { headers: { Accept: 'text/event-stream' } })).status).toBe(401);
  });

  it("leave a Streamable HTTP client's GET stream (it sends MCP-Protocol-Version) to Streamable HTTP", async () => {
    const res = await fetch(gateway.url, { headers: { Authorization: `Bearer ${MASTER_KEY}`, Accept: 'text/event-stream', 'MCP-Protocol-Version': '2025-11-25' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('content-type') ?? '').not.toContain('text/event-stream');
  });
});
