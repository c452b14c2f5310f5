import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { FAILURES_META_KEY } from '@mcpbus/protocol';
import { connectClient, textOf, type TestClient } from '../harness/clients.js';
import { fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/wait.js';
import { EVERYTHING_BIN } from '../harness/paths.js';


let gateway: TestGateway;
let client: TestClient;
let flaky: FixtureHttpHandle;
let flakyPort: number;

beforeAll(async () => {
  flaky = await startFixtureHttp({ port: 0 });
  flakyPort = flaky.port;
  gateway = await startGateway({
    servers: {
      fx: fixtureStdio({ timeout_ms: 1500 }),
      down: { url: `http://127.0.0.1:${await freePort()}/mcp` },
      flaky: { url: flaky.url },
    },
    settings: { list_deadline_ms: 3000 },
    inProcess: "fx is a stdio child per worker: fx-crash and fx-grow change the child of the worker that ran them, and the calls after them must reach that worker's child",
  });
  client = await connectClient('v2-legacy', gateway.url, gateway.headers);
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await flaky?.close();
});

describe('when upstreams fail', () => {
  it('lists the healthy upstreams and reports the dead one in _meta', async () => {
    const listed = await client.listTools();
    const names = listed.tools.map((t) => t.name);
    expect(names).toContain('fx-echo');
    expect(names).toContain('flaky-echo');
    expect(names.some((n) => n.startsWith('down-'))).toBe(false);
    const failures = listed._meta?.[FAILURES_META_KEY] as { server: string; code: string; message: string }[];
    expect(failures).toEqual([expect.objectContaining({ server: 'down', code: 'upstream_unavailable' })]);
    expect(failures[0]?.message).toContain('"down"');
  });

  it('fails a call to a dead upstream with an error naming the server', async () => {
    await expect(client.callTool('down-echo', { text: 'x' })).rejects.toMatchObject({ code: -32010, message: expect.stringContaining('upstream server "down"') });
  });

  it('reports an upstream killed mid-call, then restarts the stdio child', async () => {
    await expect(client.callTool('fx-crash', { afterMs: 50 })).rejects.toMatchObject({ message: expect.stringContaining('upstream server "fx"') });
    // The crashed child is replaced; the next call succeeds without operator action.
    expect(textOf(await eventually(() => client.callTool('fx-echo', { text: 'back' })))).toBe('back');
  });

  it('times out a call that outlives the server timeout, naming the server, and stays usable', async () => {
    await expect(client.callTool('fx-sleep', { ms: 5000 })).rejects.toMatchObject({ code: -32001, message: expect.stringContaining('"fx" did not answer within') });
    expect(textOf(await client.callTool('fx-echo', { text: 'still here' }))).toBe('still here');
  });

  it('reconnects to an HTTP upstream that went away and came back', async () => {
    expect(textOf(await client.callTool('flaky-echo', { text: 'one' }))).toBe('one');
    await flaky.close();
    await expect(client.callTool('flaky-echo', { text: 'two' })).rejects.toMatchObject({ message: expect.stringContaining('"flaky"') });
    flaky = await startFixtureHttp({ port: flakyPort });
    expect(textOf(await eventually(() => client.callTool('flaky-echo', { text: 'three' }), { timeoutMs: 15_000 }))).toBe('three');
  });
});

describe('a stateful 2025 Streamable HTTP upstream (server-everything)', () => {
  it('gets a new session after it restarts and forgets the old one', async () => {
    const port = await freePort();
    const start = (): ChildProcess => spawn(EVERYTHING_BIN, ['streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
    let upstream = start();
    const stateful = await startGateway({ servers: { evs: { url: `http://127.0.0.1:${port}/mcp` } }, settings: { list_deadline_ms: 10_000 } });
    const c = await connectClient('v2-legacy', stateful.url, stateful.headers);
    try {
      expect(textOf(await eventually(() => c.callTool('evs-echo', { message: 'first' }), { timeoutMs: 15_000 }))).toContain('first');
      upstream.kill('SIGKILL');
      await new Promise((resolve) => upstream.once('exit', resolve));
      upstream = start();
      // The restarted server answers the old session id with 404; mcpbus must open a new one.
      expect(textOf(await eventually(() => c.callTool('evs-echo', { message: 'second' }), { timeoutMs: 15_000 }))).toContain('second');
    } finally {
      await c.close();
      await stateful.close();
      upstream.kill('SIGKILL');
    }
  });
});

describe('when no worker is running', () => {
  it('fails fast with a clear error and readiness reports it', async () => {
    const lonely = await startGateway({ servers: { fx: fixtureStdio() }, workers: 0 });
    try {
      const c = await connectClient('v2-legacy', lonely.url, lonely.headers);
      await expect(c.callTool('fx-echo', { text: 'x' })).rejects.toMatchObject({ code: -32011, message: expect.stringContaining('no mcpbus worker') });
      await expect(c.listTools()).rejects.toMatchObject({ code: -32011 });
      await c.close();
      const readiness = await fetch(lonely.url.replace('/mcp', '/health/readiness'));
      expect(readiness.status).toBe(503);
      expect(await readiness.json()).toMatchObject({ nats: 'connected', workers: 'none responding' });
    } finally {
      await lonely.close();
    }
  });
});

describe('catalog refresh', () => {
  it('picks up tools an upstream adds, when it sends notifications/tools/list_changed', async () => {
    const before = (await client.listTools()).tools.map((t) => t.name);
    expect(before).not.toContain('fx-grown_tool');
    expect(textOf(await client.callTool('fx-grow', { name: 'grown_tool' }))).toBe('added grown_tool');
    const names = await eventually(async () => {
      const listed = (await client.listTools()).tools.map((t) => t.name);
      if (!listed.includes('fx-grown_tool')) throw new Error(`fx-grown_tool not listed yet: ${listed.join(', ')}`);
      return listed;
    }, { timeoutMs: 4_000 });
    expect(names).toContain('fx-grown_tool');
    expect(textOf(await client.callTool('fx-grown_tool', {}))).toBe('grown_tool ran');
  });
});
