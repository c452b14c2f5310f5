import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client, StreamableHTTPClientTransport, type McpSubscription } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRoles, type RolesHandle } from '@mcpbus/cli';
import { loadRuntimeEnv } from '@mcpbus/config';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { silentLogger } from '@mcpbus/logging';
import { alternatingFetch, withKey } from '../harness/clients.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';
import { StreamableHTTPClientTransport as V1HttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { fixtureStdio, MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { FIXTURE_MAIN, NATS_URL, REDIS_URL } from '../harness/paths.js';
import { eventually } from '../harness/wait.js';

// Three upstreams, each era and transport a subscription travels differently on:
// - web: Streamable HTTP, 2026-07-28 (updates on a subscriptions/listen stream per resource);
// - fx:  stdio, 2026-07-28 by the era probe;
// - old: stdio pinned to 2025-06-18 (resources/subscribe, updates unsolicited on the session).
// With two workers, each stdio server is a child per worker; their counters live in files both
// children watch, so a change made through one child is heard by the one holding the subscription.
const SERVERS = ['web', 'fx', 'old'] as const;
type ServerName = (typeof SERVERS)[number];

let web: FixtureHttpHandle;
let gateway: TestGateway;
let stateDirs: string[] = [];
let a: string;
let b: string;

const stdioWithState = (dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> => fixtureStdio({ args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio', '--state-dir', dir], ...extra });

beforeAll(async () => {
  web = await startFixtureHttp({ port: 0 });
  stateDirs = [mkdtempSync(join(tmpdir(), 'mcpbus-subs-fx-')), mkdtempSync(join(tmpdir(), 'mcpbus-subs-old-'))];
  gateway = await startGateway({
    servers: {
      web: { url: web.url },
      fx: stdioWithState(stateDirs[0] as string),
      old: stdioWithState(stateDirs[1] as string, { spec_version: '2025-06-18' }),
    },
    ingresses: 2,
    workers: 2,
  });
  [a, b] = gateway.urls.map((u) => u.replace(/\/mcp$/, '')) as [string, string];
});

afterAll(async () => {
  await gateway?.close();
  await web?.close();
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
/** A counter of its own for each test, so no test hears another's changes. */
const freshCounter = (): string => `c${process.pid}_${Date.now() % 100_000}_${(counter += 1)}`;
const uriOf = (server: ServerName, name: string): string => `mcpbus://${server}/fixture://counters/${name}`;

interface Toucher {
  touch(server: ServerName, name: string): Promise<void>;
  call(name: string, args: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

/** A stateless 2025 client on the other replica: it makes the changes. */
async function toucher(base: string): Promise<Toucher> {
  const client = new Client({ name: 'subs-toucher', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: gateway.headers } }));
  const call = (name: string, args: Record<string, unknown>): Promise<unknown> => client.request({ method: 'tools/call', params: { name, arguments: args } });
  return {
    async touch(server, name) {
      await call(`${server}-touch`, { name });
    },
    call,
    close: () => client.close(),
  };
}

/** A 1.x SDK client on the 2024-11-05 SSE transport, with the resource updates it hears. */
async function sseClient(url: string): Promise<{ client: V1Client; updates: string[] }> {
  const client = new V1Client({ name: 'subs-sse', version: '1.0.0' });
  const updates: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
  await client.connect(new SSEClientTransport(new URL(url), { fetch: withKey(MASTER_KEY) }));
  return { client, updates };
}

/** An SDK v2 client pinned to 2026-07-28, with the resource updates its listen streams deliver. */
async function modernClient(url: string): Promise<{ client: Client; updates: string[] }> {
  const client = new Client({ name: 'subs-modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  const updates: string[] = [];
  client.setNotificationHandler('notifications/resources/updated', (n) => void updates.push(n.params.uri));
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: gateway.headers } }));
  return { client, updates };
}

const heard = (updates: string[], uri: string) => () => (updates.includes(uri) ? Promise.resolve() : Promise.reject(new Error(`no update of ${uri} yet (heard ${JSON.stringify(updates)})`)));

describe.each(SERVERS)('resource subscriptions across replicas, upstream %s', (server) => {
  it('a legacy SSE client subscribed through one ingress hears of a change made through the other; unsubscribing stops it', async () => {
    const name = freshCounter();
    const uri = uriOf(server, name);
    const subscriber = await sseClient(`${a}/sse`);
    // Stays subscribed: once it has heard of the second change, so would have the other.
    const control = await sseClient(`${a}/sse`);
    const other = await toucher(b);
    try {
      await subscriber.client.subscribeResource({ uri });
      await control.client.subscribeResource({ uri });
      await other.touch(server, name);
      await eventually(heard(subscriber.updates, uri), { timeoutMs: 10_000, intervalMs: 25 });
      const read = await subscriber.client.readResource({ uri });
      expect(read.contents[0]).toMatchObject({ uri, text: `${name} 1` });

      await subscriber.client.unsubscribeResource({ uri });
      subscriber.updates.length = 0;
      control.updates.length = 0;
      await other.touch(server, name);
      await eventually(heard(control.updates, uri), { timeoutMs: 10_000, intervalMs: 25 });
      await new Promise((r) => setTimeout(r, 100));
      expect(subscriber.updates).toEqual([]);
    } finally {
      await Promise.allSettled([subscriber.client.close(), control.client.close(), other.close()]);
    }
  });

  it('a 2025 client on a Streamable HTTP session, its requests alternating between the ingresses, hears of a change on its GET stream; unsubscribing stops it', async () => {
    const name = freshCounter();
    const uri = uriOf(server, name);
    const client = new V1Client({ name: 'subs-session', version: '1.0.0' });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
      return Promise.resolve();
    });
    await client.connect(new V1HttpTransport(new URL(`${a}/mcp`), { fetch: alternatingFetch([`${a}/mcp`, `${b}/mcp`]), requestInit: { headers: gateway.headers } }));
    const other = await toucher(b);
    try {
      expect(client.getServerCapabilities()?.resources).toMatchObject({ subscribe: true });
      await client.subscribeResource({ uri });
      await eventually(async () => {
        await other.touch(server, name);
        await eventually(heard(updates, uri), { timeoutMs: 1_000, intervalMs: 25 });
      }, { timeoutMs: 15_000 });
      await client.unsubscribeResource({ uri });
      await new Promise((r) => setTimeout(r, 300));
      updates.length = 0;
      await other.touch(server, name);
      await new Promise((r) => setTimeout(r, 500));
      expect(updates).toEqual([]);
    } finally {
      await Promise.allSettled([client.close(), other.close()]);
    }
  });

  it('a 2025 session hears of a change made the moment its subscribe is answered (the upstream is subscribed before the answer)', async () => {
    const client = new V1Client({ name: 'subs-session-race', version: '1.0.0' });
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
      return Promise.resolve();
    });
    await client.connect(new V1HttpTransport(new URL(`${a}/mcp`), { fetch: alternatingFetch([`${a}/mcp`, `${b}/mcp`]), requestInit: { headers: gateway.headers } }));
    const other = await toucher(b);
    try {
      // Each resource is touched once, right after the subscribe is answered: no second chance.
      for (let round = 0; round < 5; round += 1) {
        const name = freshCounter();
        const uri = uriOf(server, name);
        await client.subscribeResource({ uri });
        await other.touch(server, name);
        await eventually(heard(updates, uri), { timeoutMs: 3_000, intervalMs: 25 });
      }
    } finally {
      await Promise.allSettled([client.close(), other.close()]);
    }
  });

  it('a 2026 client listening on subscriptions/listen through one ingress hears of a change made through the other; closing the stream stops it', async () => {
    const name = freshCounter();
    const uri = uriOf(server, name);
    const listener = await modernClient(`${a}/mcp`);
    const control = await modernClient(`${a}/mcp`);
    const other = await toucher(b);
    let stream: McpSubscription | undefined;
    try {
      stream = await listener.client.listen({ resourceSubscriptions: [uri] });
      expect(stream.honoredFilter.resourceSubscriptions).toEqual([uri]);
      await control.client.listen({ resourceSubscriptions: [uri] });
      await other.touch(server, name);
      await eventually(heard(listener.updates, uri), { timeoutMs: 10_000, intervalMs: 25 });
      await eventually(heard(control.updates, uri), { timeoutMs: 10_000, intervalMs: 25 });

      await stream.close();
      listener.updates.length = 0;
      control.updates.length = 0;
      await other.touch(server, name);
      await eventually(heard(control.updates, uri), { timeoutMs: 10_000, intervalMs: 25 });
      await new Promise((r) => setTimeout(r, 100));
      expect(listener.updates).toEqual([]);
    } finally {
      await Promise.allSettled([listener.client.close(), control.client.close(), other.close()]);
    }
  });
});

describe('resource subscriptions', () => {
  it('are shared upstream: many clients, at most one upstream subscription per worker, none once they are gone', async () => {
    const name = freshCounter();
    const uri = uriOf('web', name);
    const baseline = web.listenStreams();
    const clients = await Promise.all([sseClient(`${a}/sse`), sseClient(`${b}/sse`), sseClient(`${a}/sse`), sseClient(`${b}/sse`)]);
    try {
      for (const { client } of clients) await client.subscribeResource({ uri });
      // One listen stream per worker that holds any of the four leases: two workers, so one or two.
      const upstream = web.listenStreams() - baseline;
      expect(upstream).toBeGreaterThanOrEqual(1);
      expect(upstream).toBeLessThanOrEqual(2);
      await clients[0]?.client.unsubscribeResource({ uri });
      await clients[1]?.client.close();
    } finally {
      await Promise.allSettled(clients.map(({ client }) => client.close()));
    }
    // Unsubscribed, or gone with their sessions: the upstream is told.
    await eventually(() => (web.listenStreams() === baseline ? Promise.resolve() : Promise.reject(new Error(`${web.listenStreams() - baseline} upstream streams left`))), { timeoutMs: 10_000 });
  });

  it('reach a single-server route under the upstream URI', async () => {
    const name = freshCounter();
    const rawUri = `fixture://counters/${name}`;
    const listener = await modernClient(`${a}/mcp/web`);
    const other = await toucher(b);
    try {
      await listener.client.listen({ resourceSubscriptions: [rawUri] });
      await other.touch('web', name);
      await eventually(heard(listener.updates, rawUri), { timeoutMs: 10_000, intervalMs: 25 });
      expect(listener.updates.every((u) => u === rawUri)).toBe(true);
    } finally {
      await Promise.allSettled([listener.client.close(), other.close()]);
    }
  });

  it('are refused for resources outside the route, and on connections that cannot carry notifications', async () => {
    const listener = await modernClient(`${a}/mcp`);
    const sse = await sseClient(`${a}/sse`);
    try {
      await expect(listener.client.listen({ resourceSubscriptions: ['mcpbus://nope/fixture://counters/x'] })).rejects.toMatchObject({ code: -32602 });
      await expect(listener.client.listen({ resourceSubscriptions: ['fixture://counters/x'] })).rejects.toMatchObject({ code: -32602 });
      await expect(sse.client.subscribeResource({ uri: 'mcpbus://nope/fixture://counters/x' })).rejects.toMatchObject({ code: -32602 });
      // A 2025 request without a session has nowhere to get updates.
      const stateless = responseOf(await legacyRpc(`${a}/mcp`, gateway.headers, 'resources/subscribe', { uri: uriOf('web', 'x') }));
      expect(stateless.error?.code).toBe(-32601);
      expect(sse.client.getServerCapabilities()?.resources).toMatchObject({ subscribe: true, listChanged: true });
      expect(listener.client.getServerCapabilities()?.resources).toMatchObject({ subscribe: true, listChanged: true });
    } finally {
      await Promise.allSettled([listener.client.close(), sse.client.close()]);
    }
  });
});

describe('resource subscriptions across restarts', () => {
  let solo: TestGateway;
  let spare: RolesHandle | undefined;
  let dirs: string[] = [];
  let base: string;

  beforeAll(async () => {
    dirs = [mkdtempSync(join(tmpdir(), 'mcpbus-subs-solo-fx-')), mkdtempSync(join(tmpdir(), 'mcpbus-subs-solo-old-'))];
    solo = await startGateway({
      servers: { fx: stdioWithState(dirs[0] as string), old: stdioWithState(dirs[1] as string, { spec_version: '2025-06-18' }) },
      // Renewed every 500 ms: a stopped worker's subscriptions move within that.
      settings: { resource_lease_ms: 1_500 },
      inProcess: 'starts a worker of its own beside the gateway, then stops the gateway\'s workers',
    });
    base = solo.url.replace(/\/mcp$/, '');
  });

  afterAll(async () => {
    await spare?.close();
    await solo?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** Touches until the subscriber hears of it (a subscription being made again may miss the first). */
  const heardAfterTouching = (other: Toucher, server: ServerName, name: string, updates: string[], uri: string) =>
    eventually(async () => {
      await other.touch(server, name);
      await eventually(heard(updates, uri), { timeoutMs: 1_000, intervalMs: 25 });
    }, { timeoutMs: 15_000 });

  it.each(['fx', 'old'] as const)('outlive their upstream (%s): a crashed stdio child is started again and subscribed again', async (server) => {
    const name = freshCounter();
    const uri = uriOf(server, name);
    const subscriber = await sseClient(`${base}/sse`);
    const other = await toucher(base);
    try {
      await subscriber.client.subscribeResource({ uri });
      await other.call(`${server}-crash`, { afterMs: 50 }).catch(() => undefined);
      // The respawned child is subscribed again; the restart itself is told as an update (changes may have been missed).
      await eventually(heard(subscriber.updates, uri), { timeoutMs: 15_000, intervalMs: 25 });
      subscriber.updates.length = 0;
      await heardAfterTouching(other, server, name, subscriber.updates, uri);
    } finally {
      await Promise.allSettled([subscriber.client.close(), other.close()]);
    }
  });

  it('outlive the worker that held them: the lease moves to another worker, which subscribes upstream again', async () => {
    const name = freshCounter();
    const uri = uriOf('old', name);
    const subscriber = await sseClient(`${base}/sse`);
    const listener = await modernClient(`${base}/mcp`);
    const other = await toucher(base);
    try {
      await subscriber.client.subscribeResource({ uri });
      await listener.client.listen({ resourceSubscriptions: [uri] });
      // Only the gateway's own worker holds the leases; the spare comes up, then that one stops.
      spare = await runRoles({ config: solo.config, runtime: loadRuntimeEnv({ NATS_URL, REDIS_URL }), roles: ['worker'], port: 0, host: '127.0.0.1', log: silentLogger() });
      await solo.stopWorkers();
      await heardAfterTouching(other, 'old', name, subscriber.updates, uri);
      await eventually(heard(listener.updates, uri), { timeoutMs: 5_000, intervalMs: 25 });
    } finally {
      await Promise.allSettled([subscriber.client.close(), listener.client.close(), other.close()]);
    }
  });
});
