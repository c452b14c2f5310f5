import { Agent, request as httpRequest } from 'node:http';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLIENT_KINDS, connectClient, textOf, withKey } from '../harness/clients.js';
import { startLedgerServer, type LedgerServer } from '../harness/ledger-server.js';
import { callTool, postRpc, reportOf, runCalls, startLoad, summaryLine, textOfResult, toolReplyOf, type Target } from '../harness/load.js';
import { fixtureStdio, ledgerCall, mixedWorkload, serving, TOPOLOGY_KEY, type LedgerCallKind } from '../harness/topology-calls.js';
import { startRoundRobinProxy } from '../harness/round-robin-proxy.js';
import { startTopology, type SupervisedProcess, type Topology } from '../harness/topology.js';
import { messagesOf } from '../harness/raw-mcp.js';
import { eventually } from '../harness/wait.js';

// Faults, restarts and drains take seconds each; a whole scenario stays well under this.
vi.setConfig({ testTimeout: 150_000 });

// The compose topology as separate processes (2 ingresses behind a round-robin proxy, 2 workers,
// 1 runner, the demo upstream) and clients whose successive requests land on different replicas.
let topology: Topology;
let ledger: LedgerServer;
const DRAIN_TIMEOUT_MS = 10_000;
let proxied: Target;
let direct: Target[];

beforeAll(async () => {
  ledger = await startLedgerServer();
  topology = await startTopology({
    config: ({ upstreamUrl }) => ({
      mcp_servers: {
        fx: fixtureStdio(),
        web: { url: upstreamUrl },
        webjob: { url: upstreamUrl, execution: 'job' },
        led: { url: ledger.url, timeout_ms: 10_000 },
        ledjob: { url: ledger.url, execution: 'job', tools: { work: { idempotent: false } } },
      },
      general_settings: { master_key: TOPOLOGY_KEY },
      // drain_timeout_ms bounds how long a drain that goes wrong keeps a test waiting.
      mcpbus_settings: { task_poll_interval_ms: 200, job_lock_ms: 5_000, drain_timeout_ms: DRAIN_TIMEOUT_MS },
    }),
  });
  proxied = { url: topology.url, headers: topology.headers };
  direct = topology.ingressUrls.map((url) => ({ url, headers: topology.headers }));
}, 180_000);

afterAll(async () => {
  await topology?.close({ graceMs: 3_000 });
  await ledger?.close();
});

const at = (i: number): Target => direct[i] as Target;
type Stats = { started: number; finished: number; cancelled: number };

/** Counters of the demo upstream's `slow` tool (one process, shared by every worker and the runner). */
async function stats(): Promise<Stats> {
  return JSON.parse(textOfResult((await callTool(proxied, 'web-slow_stats', {})).result)) as Stats;
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  return eventually(async () => {
    const value = await probe();
    if (value === undefined) throw new Error(`not yet: ${what}`);
    return value;
  }, { timeoutMs, intervalMs: 100 });
}

/** A promise settled by the first call of the returned function. */
function heard(): { promise: Promise<void>; hear: () => void } {
  let hear = (): void => undefined;
  const promise = new Promise<void>((resolve) => (hear = resolve));
  return { promise, hear };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** A fetch that also keeps every SSE event of the GET streams it opens (the wire a legacy session sees). */
function tapEventStreams(inner: typeof fetch): { fetch: typeof fetch; messages(): Record<string, unknown>[] } {
  let text = '';
  const tapped: typeof fetch = async (input, init) => {
    const res = await inner(input, init);
    if ((init?.method ?? 'GET') !== 'GET' || res.body === null) return res;
    const [mine, theirs] = res.body.tee();
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of mine as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    })().catch(() => undefined);
    return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  const messages = (): Record<string, unknown>[] =>
    text
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice('data: '.length)) as Record<string, unknown>);
  return { fetch: tapped, messages };
}

/** Requests that reached each replica through the proxy, so far. */
const forwarded = (): number[] => topology.ingressUrls.map((u) => topology.proxy.stats().forwarded[new URL(u).origin] ?? 0);

describe('legacy SSE sessions', () => {
  it('serve a session whose POSTs alternate replicas, with progress, and tell every session of a list change', async () => {
    const before = forwarded();
    const viaProxy = new V1Client({ name: 'topo-sse', version: '1.0.0' });
    const changedViaProxy = heard();
    viaProxy.setNotificationHandler(ToolListChangedNotificationSchema, () => changedViaProxy.hear());
    const wire = tapEventStreams(withKey(TOPOLOGY_KEY));
    await viaProxy.connect(new SSEClientTransport(new URL(`${topology.baseUrl}/sse`), { fetch: wire.fetch }));
    // One more session held by each replica, to see that a change reaches both.
    const held = await Promise.all(topology.ingressUrls.map(async (url) => {
      const client = new V1Client({ name: 'topo-sse-held', version: '1.0.0' });
      const changed = heard();
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed.hear());
      await client.connect(new SSEClientTransport(new URL(url.replace(/\/mcp$/, '/sse')), { fetch: withKey(TOPOLOGY_KEY) }));
      return { client, changed };
    }));
    try {
      for (let i = 0; i < 6; i += 1) expect(textOf((await viaProxy.callTool({ name: 'web-echo', arguments: { text: `hop ${i}` } })) as never)).toBe(`hop ${i}`);
      const progress: number[] = [];
      const slow = await viaProxy.callTool({ name: 'web-slow', arguments: { steps: 4, delayMs: 20 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(slow as never)).toBe('done after 4 steps');
      // On the wire: every update, in order, before the result. (The 1.x client may drop updates
      // that arrive in one chunk with the result, its own race, typescript-sdk#2580.)
      const isSlowResult = (m: Record<string, unknown>): boolean => JSON.stringify(m['result'] ?? '').includes('done after 4 steps');
      // The tap reads its copy of the stream on its own schedule.
      const events = await until(() => Promise.resolve(wire.messages().some(isSlowResult) ? wire.messages() : undefined), 'the result on the wire', 5_000);
      const slowResult = events.findIndex(isSlowResult);
      const updates = events.slice(0, slowResult).filter((m) => m['method'] === 'notifications/progress').map((m) => (m['params'] as { progress: number }).progress);
      expect(updates).toEqual([1, 2, 3, 4]);
      expect(progress).toEqual([1, 2, 3, 4].slice(0, progress.length));
      // The session's POSTs reached both replicas: one of them forwarded to the other over NATS.
      const after = forwarded();
      expect(after.every((n, i) => n - (before[i] ?? 0) >= 3)).toBe(true);

      // fx-grow makes one worker's stdio fixture add a tool and announce it: every session hears.
      await viaProxy.callTool({ name: 'fx-grow', arguments: { name: 'sse_grown' } });
      await within(Promise.all([changedViaProxy.promise, ...held.map((h) => h.changed.promise)]), 10_000, 'every session heard tools/list_changed');
    } finally {
      await Promise.allSettled([viaProxy.close(), ...held.map((h) => h.client.close())]);
    }
  });
});

describe('2026 clients on subscriptions/listen', () => {
  it('hear list changes on a listen stream held by either replica', async () => {
    const listeners = await Promise.all([...topology.ingressUrls, topology.url].map(async (url) => {
      const changed = heard();
      const client = new Client(
        { name: 'topo-listen', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } }, listChanged: { tools: { autoRefresh: false, onChanged: () => changed.hear() } } },
      );
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: topology.headers } }));
      return { client, changed };
    }));
    const caller = await connectClient('v2-legacy', topology.url, topology.headers);
    try {
      // Listen streams open asynchronously after connect; a list answers once they are.
      await Promise.all(listeners.map((l) => l.client.listTools()));
      expect(textOf(await caller.callTool('fx-grow', { name: 'listened' }))).toBe('added listened');
      await within(Promise.all(listeners.map((l) => l.changed.promise)), 10_000, 'every listener heard tools/list_changed');
    } finally {
      await Promise.allSettled([caller.close(), ...listeners.map((l) => l.client.close())]);
    }
  });
});

describe.each(CLIENT_KINDS)('a %s client through the proxy', (kind) => {
  it('gets every progress update in order, of inline and job calls, whichever replica holds the stream', async () => {
    const client = await connectClient(kind, topology.url, topology.headers);
    try {
      for (const name of ['web-slow', 'webjob-slow']) {
        for (let round = 0; round < 2; round += 1) {
          const progress: number[] = [];
          const result = await client.callTool(name, { steps: 5, delayMs: 10 }, { onprogress: (p) => progress.push(p.progress) });
          expect(textOf(result)).toBe('done after 5 steps');
          // In order. SDK clients may drop updates that arrive in one chunk with the result (their
          // own race, typescript-sdk#2580); the raw calls of the load tests check every update.
          expect(progress.length).toBeGreaterThanOrEqual(1);
          expect(progress).toEqual([1, 2, 3, 4, 5].slice(0, progress.length));
        }
      }
    } finally {
      await client.close();
    }
  });
});

describe('cancellation from another replica', () => {
  it('reaches the call of a legacy SSE session when notifications/cancelled lands on the other replica', async () => {
    const [holder, other] = topology.ingressUrls.map((u) => new URL(u).origin) as [string, string];
    // The stream on the first replica, every POST (the cancel too) on the second.
    const split: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const origin = (init?.method ?? 'GET') === 'GET' ? holder : other;
      return fetch(new URL(`${url.pathname}${url.search}`, origin), init);
    };
    const client = new V1Client({ name: 'topo-sse-cancel', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(`${holder}/sse`), { fetch: withKey(TOPOLOGY_KEY, split) }));
    try {
      const before = await stats();
      const abort = new AbortController();
      const call = client.callTool({ name: 'web-slow', arguments: { steps: 300, delayMs: 20 } }, undefined, {
        signal: abort.signal,
        onprogress: (p) => {
          if (p.progress >= 2) abort.abort('enough');
        },
      });
      await expect(call).rejects.toThrow();
      const after = await until(async () => {
        const now = await stats();
        return now.cancelled > before.cancelled ? now : undefined;
      }, 'the upstream call was cancelled');
      expect(after.finished).toBe(before.finished);
    } finally {
      await client.close();
    }
  });

  it("reaches a stateless 2025 client's job call when its notifications/cancelled lands on the other replica", async () => {
    const before = await stats();
    const id = `job-cancel-${Date.now()}`;
    const headers = { ...topology.headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25' };
    const call = fetch(at(0).url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'webjob-slow', arguments: { steps: 300, delayMs: 20 } } }) });
    await until(async () => ((await stats()).started > before.started ? true : undefined), 'the job started upstream');
    const cancel = await fetch(at(1).url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'changed my mind' } }) });
    expect(cancel.status).toBe(202);
    const res = await call;
    const answer = toolReplyOf({ status: res.status, messages: messagesOf(res.headers.get('content-type'), await res.text()), text: '' });
    expect(answer.error?.code).toBe(-32800);
    const after = await until(async () => {
      const now = await stats();
      return now.cancelled > before.cancelled ? now : undefined;
    }, 'the upstream call was cancelled');
    expect(after.finished).toBe(before.finished);
  });

  it('reaches a task cancelled with tasks/cancel on the other replica', async () => {
    const before = await stats();
    const created = toolReplyOf(await postRpc(at(0), 'tools/call', { name: 'web-slow', arguments: { steps: 300, delayMs: 20 }, task: { ttl: 60_000 } }));
    const taskId = (created.result?.['task'] as { taskId: string }).taskId;
    await until(async () => ((await stats()).started > before.started ? true : undefined), 'the task started upstream');
    const cancelled = toolReplyOf(await postRpc(at(1), 'tasks/cancel', { taskId }));
    expect(cancelled.result).toMatchObject({ taskId, status: 'cancelled' });
    expect(toolReplyOf(await postRpc(at(0), 'tasks/get', { taskId })).result).toMatchObject({ status: 'cancelled' });
    const after = await until(async () => {
      const now = await stats();
      return now.cancelled > before.cancelled ? now : undefined;
    }, 'the upstream call was cancelled');
    expect(after.finished).toBe(before.finished);
  });

  it.each(['web-slow', 'webjob-slow'])('reaches %s when a 2026 client closes its stream through the proxy', async (name) => {
    const before = await stats();
    const abort = new AbortController();
    const call = callTool(proxied, name, { steps: 300, delayMs: 20 }, { modern: true, progress: true, signal: abort.signal });
    await until(async () => ((await stats()).started > before.started ? true : undefined), 'the call started upstream');
    abort.abort();
    await expect(call).rejects.toThrow();
    const after = await until(async () => {
      const now = await stats();
      return now.cancelled > before.cancelled ? now : undefined;
    }, 'the upstream call was cancelled');
    expect(after.finished).toBe(before.finished);
  });
});

describe('tasks across replicas', () => {
  it('a 2025 task made on one replica is read, awaited (with its progress) and listed on the other', async () => {
    const created = toolReplyOf(await postRpc(at(0), 'tools/call', { name: 'web-slow', arguments: { steps: 4, delayMs: 100 }, task: { ttl: 60_000 }, _meta: { progressToken: 'tok-across' } }));
    const taskId = (created.result?.['task'] as { taskId: string }).taskId;
    expect(toolReplyOf(await postRpc(at(1), 'tasks/get', { taskId })).result).toMatchObject({ taskId, status: 'working' });
    const awaited = await postRpc(at(1), 'tasks/result', { taskId });
    const progress = awaited.messages.filter((m) => m['method'] === 'notifications/progress').map((m) => m['params'] as { progress: number; progressToken: string });
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.every((p) => p.progressToken === 'tok-across')).toBe(true);
    expect(progress.map((p) => p.progress)).toEqual([...progress.map((p) => p.progress)].sort((a, b) => a - b));
    expect(textOfResult(toolReplyOf(awaited).result)).toBe('done after 4 steps');
    const listed = toolReplyOf(await postRpc(at(0), 'tasks/list', {})).result?.['tasks'] as { taskId: string; status: string }[];
    expect(listed.find((t) => t.taskId === taskId)).toMatchObject({ status: 'completed' });
  });

  it('a 2026 task made on one replica is polled to its result on the other', async () => {
    const created = toolReplyOf(await postRpc(at(0), 'tools/call', { name: 'webjob-echo', arguments: { text: 'task across' } }, { modern: true, name: 'webjob-echo', tasks: true }));
    expect(created.result).toMatchObject({ resultType: 'task' });
    const taskId = created.result?.['taskId'] as string;
    const done = await until(async () => {
      const task = toolReplyOf(await postRpc(at(1), 'tasks/get', { taskId }, { modern: true, tasks: true, name: taskId })).result;
      return task?.['status'] === 'completed' ? task : undefined;
    }, 'the 2026 task completed');
    expect(done['result']).toMatchObject({ content: [{ type: 'text', text: 'task across' }] });
  });
});

describe('no call runs twice', () => {
  it('runs every call of a mixed burst through the proxy exactly once, and answers each with its own result', async () => {
    const keys = new Map<string, LedgerCallKind>();
    const kinds: LedgerCallKind[] = ['inline', 'progress', 'modern', 'job', 'task', 'idem-job'];
    const specs = Array.from({ length: 48 }, (_, i) => ledgerCall(proxied, kinds[i % kinds.length] as LedgerCallKind, { ms: 100, steps: 2, keys }));
    const records = await runCalls(specs);
    const report = reportOf(records, Date.now());
    console.log(summaryLine('mixed burst, 48 calls through the proxy', report));
    expect(report.sample).toEqual([]);
    expect(report.progressGaps).toBe(0);
    expect(report.ok).toBe(48);
    for (const key of keys.keys()) expect(ledger.entry(key), key).toMatchObject({ starts: 1, finished: 1 });
  });
});

describe.each(['ingress', 'worker', 'runner'] as const)('SIGTERM to an %s under load', (role) => {
  it('drains it without failing an accepted call, and the replacement serves', async () => {
    const target = { ingress: topology.ingresses, worker: topology.workers, runner: topology.runners }[role][0];
    if (target === undefined) throw new Error(`no ${role}`);
    const keys = new Map<string, LedgerCallKind>();
    const load = startLoad({ concurrency: 8, next: mixedWorkload(proxied, ['inline', 'progress', 'job', 'task', 'modern'], { ms: 400, steps: 2, keys }) });
    await load.ended(12);
    const faultAt = Date.now();
    const exit = await target.kill('SIGTERM');
    const drainedMs = Date.now() - faultAt;
    await target.waitReady();
    await load.ended(12);
    const report = reportOf(await load.stop(), faultAt);
    console.log(summaryLine(`SIGTERM ${target.name}`, report, { drained: `${(drainedMs / 1000).toFixed(1)}s`, exit: exit.code ?? String(exit.signal) }));
    expect(exit).toEqual({ code: 0, signal: null });
    expect(report.sample).toEqual([]);
    expect(report.progressGaps).toBe(0);
    expect(report.ok).toBe(report.attempted);
    expect([...keys.keys()].filter((k) => ledger.entry(k).starts > 1)).toEqual([]);
    expect((await serving(proxied, ['inline', 'job'])).sample).toEqual([]);
  });
});

describe('SIGTERM to an ingress behind a balancer that keeps connections to it alive (nginx keepalive 32)', () => {
  it('answers the requests it drains with Connection: close, so no new request reaches it on their connections', async () => {
    const target = topology.ingresses[0] as SupervisedProcess;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const key = `drain-${Date.now()}`;
    try {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'led-work', arguments: { key, ms: 1_500 } } });
      const answer = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
        const url = new URL(target.url);
        const req = httpRequest({ agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...topology.headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
      await until(() => Promise.resolve(ledger.entry(key).starts === 1 ? true : undefined), 'the call running upstream');
      const exit = target.kill('SIGTERM');
      const answered = await answer;
      expect(answered.status).toBe(200);
      expect(answered.body).toContain(key);
      // Kept alive, the connection would carry the balancer's next request into a replica that is
      // shutting down (and, under steady load, keep it from ever finishing its drain).
      expect(answered.connection).toBe('close');
      expect(await exit).toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
      await target.waitReady();
    }
  });

  it('drains it promptly without failing an accepted call', async () => {
    // A second proxy over the same ingresses that reuses its connections to them, as
    // deploy/nginx.conf does. A draining ingress must stop taking requests on those connections.
    const nginxLike = await startRoundRobinProxy({ targets: topology.ingressUrls.map((u) => new URL(u).origin), upstreamKeepAlive: true });
    const target = topology.ingresses[1] as SupervisedProcess;
    try {
      const keys = new Map<string, LedgerCallKind>();
      const load = startLoad({ concurrency: 12, next: mixedWorkload({ url: `${nginxLike.url}/mcp`, headers: topology.headers }, ['inline', 'progress', 'job', 'modern'], { ms: 400, steps: 2, keys }) });
      await load.ended(24);
      const faultAt = Date.now();
      const exit = await target.kill('SIGTERM');
      const drainedMs = Date.now() - faultAt;
      await target.waitReady();
      await load.ended(12);
      const report = reportOf(await load.stop(), faultAt);
      console.log(summaryLine(`SIGTERM ${target.name} behind a keep-alive proxy`, report, { drained: `${(drainedMs / 1000).toFixed(1)}s`, exit: exit.code ?? String(exit.signal) }));
      expect(report.sample).toEqual([]);
      expect(exit).toEqual({ code: 0, signal: null });
      // Its calls last 400 ms; a drain that takes drain_timeout_ms kept taking new requests.
      expect(drainedMs).toBeLessThan(DRAIN_TIMEOUT_MS / 2);
    } finally {
      await nginxLike.close();
      await target.waitReady();
    }
  });
});

describe('SIGTERM to the ingress holding a legacy SSE session', () => {
  it("lets the session's call in flight finish and deliver its result, then ends the session", async () => {
    const target = topology.ingresses[1] as SupervisedProcess;
    const other = topology.ingresses[0] as SupervisedProcess;
    const posted: string[] = [];
    const client = new V1Client({ name: 'topo-sse-drain', version: '1.0.0' });
    const seeing: typeof fetch = (input, init) => {
      posted.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    };
    await client.connect(new SSEClientTransport(new URL(target.url.replace(/\/mcp$/, '/sse')), { fetch: withKey(TOPOLOGY_KEY, seeing) }));
    const sessionId = new URL(posted.find((u) => u.includes('/messages')) ?? 'http://x/').searchParams.get('sessionId') ?? '';
    try {
      const running = heard();
      const call = client.callTool({ name: 'web-slow', arguments: { steps: 10, delayMs: 100 } }, undefined, { onprogress: () => running.hear() });
      await within(running.promise, 10_000, 'the call made progress');
      const stoppedAt = Date.now();
      const exit = target.kill('SIGTERM');
      expect(textOf((await call) as never)).toBe('done after 10 steps');
      expect(await exit).toEqual({ code: 0, signal: null });
      expect(Date.now() - stoppedAt).toBeLessThan(DRAIN_TIMEOUT_MS / 2);
      // The session was that replica's own state: it is gone everywhere (clients open a new one).
      const res = await fetch(other.url.replace(/\/mcp$/, `/messages?sessionId=${sessionId}`), {
        method: 'POST',
        headers: { ...topology.headers, 'Content-Type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      expect(res.status).toBe(404);
    } finally {
      await client.close();
      await target.waitReady();
    }
  });
});
