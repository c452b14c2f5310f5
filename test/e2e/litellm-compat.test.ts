import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { CLIENT_KINDS, connectClient, textOf } from '../harness/clients.js';
import { fixtureStdio, MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/wait.js';

let web: FixtureHttpHandle;
let gateway: TestGateway;
let base: string;
const auth = { Authorization: `Bearer ${MASTER_KEY}` };


beforeAll(async () => {
  web = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({
    servers: {
      fx: fixtureStdio({ timeout_ms: 1000 }),
      web: { url: web.url },
      down: { url: `http://127.0.0.1:${await freePort()}/mcp` },
    },
    settings: { list_deadline_ms: 3000 },
  });
  base = gateway.url.replace(/\/mcp$/, '');
  // fx answers within 1 s once its stdio child runs; spawning the child may take longer on a
  // loaded machine, so wait until the gateway lists its tools before testing calls.
  await eventually(async () => {
    const res = await fetch(`${base}/mcp/tools/list?server_id=fx`, { headers: auth });
    const body = (await res.json()) as { tools: unknown[] };
    if (body.tools.length === 0) throw new Error('fx is not up yet');
  }, { timeoutMs: 30_000, intervalMs: 250 });
});

afterAll(async () => {
  await gateway?.close();
  await web?.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = auth): Promise<Response> =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe.each(['/mcp', '/mcp-rest'])('LiteLLM REST endpoints under %s', (prefix) => {
  it('say MCP is enabled, to authenticated callers only', async () => {
    const res = await fetch(`${base}${prefix}/enabled`, { headers: auth });
    expect(await res.json()).toEqual({ enabled: true });
    expect((await fetch(`${base}${prefix}/enabled`)).status).toBe(401);
    const anonymous = await fetch(`${base}${prefix}/tools/list`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ detail: { error: 'unauthorized' } });
  });

  it('list tools with their server, optionally for one server', async () => {
    const all = (await (await fetch(`${base}${prefix}/tools/list`, { headers: auth })).json()) as {
      tools: { name: string; inputSchema: unknown; mcp_info: { server_name: string } }[];
      error: string | null;
    };
    const echo = all.tools.find((t) => t.name === 'web-echo');
    expect(echo?.mcp_info.server_name).toBe('web');
    expect(echo?.inputSchema).toMatchObject({ type: 'object' });
    expect(all.error).toBe('partial_failure');
    const one = (await (await fetch(`${base}${prefix}/tools/list?server_id=fx`, { headers: auth })).json()) as { tools: { mcp_info: { server_name: string } }[]; error: string | null };
    expect(one.tools.length).toBeGreaterThan(5);
    expect(new Set(one.tools.map((t) => t.mcp_info.server_name))).toEqual(new Set(['fx']));
    expect(one.error).toBeNull();
    expect((await fetch(`${base}${prefix}/tools/list?server_id=nope`, { headers: auth })).status).toBe(404);
  });

  it('call a tool and return the MCP result', async () => {
    const res = await post(`${prefix}/tools/call`, { name: 'web-add', arguments: { a: 20, b: 22 } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ content: [{ type: 'text', text: '42' }], structuredContent: { sum: 42 } });
    // LiteLLM's form: the upstream tool name with server_id.
    expect(await (await post(`${prefix}/tools/call`, { name: 'echo', server_id: 'web', arguments: { text: 'by server_id' } })).json()).toMatchObject({ content: [{ text: 'by server_id' }] });
    expect((await post(`${prefix}/tools/call`, { name: 'echo', server_id: 'nope', arguments: {} })).status).toBe(404);
    const failed = await post(`${prefix}/tools/call`, { name: 'fx-fail', arguments: { message: 'tool says no' } });
    expect(failed.status).toBe(200);
    expect(await failed.json()).toMatchObject({ isError: true, content: [{ text: 'tool says no' }] });
  });

  it('answer errors with fitting statuses', async () => {
    const cases: [unknown, number, string][] = [
      [{ name: 'web-nope', arguments: {} }, 404, 'unknown_tool'],
      [{ name: 'web-add', arguments: { a: 'x' } }, 400, 'invalid_params'],
      [{ arguments: {} }, 400, 'bad_request'],
      [{ name: 'down-echo', arguments: { text: 'x' } }, 502, 'upstream_unavailable'],
      [{ name: 'fx-sleep', arguments: { ms: 3000 } }, 504, 'upstream_timeout'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(`${prefix}/tools/call`, body);
      const json = (await res.json()) as { detail: { error: string; message: string; problems?: string[] } };
      expect([res.status, json.detail.error]).toEqual([status, code]);
      expect(json.detail.message.length).toBeGreaterThan(5);
      if (code === 'invalid_params') expect(json.detail.problems).toEqual(expect.arrayContaining(['a: must be number', 'b: is required']));
    }
  });
});

describe.each(CLIENT_KINDS)('single-server routes with the %s client', (kind) => {
  it.each(['/mcp/web', '/web/mcp'])('%s exposes one upstream under its original tool names', async (path) => {
    const client = await connectClient(kind, `${base}${path}`, gateway.headers);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('echo');
      expect(names).toContain('add');
      expect(names.some((n) => n.startsWith('web-') || n.startsWith('fx-'))).toBe(false);
      expect(textOf(await client.callTool('echo', { text: 'scoped' }))).toBe('scoped');
      const progress: number[] = [];
      expect(textOf(await client.callTool('slow', { steps: 3, delayMs: 5 }, { onprogress: (p) => progress.push(p.progress) }))).toBe('done after 3 steps');
      expect(progress.length).toBeGreaterThanOrEqual(2);
      await expect(client.callTool('web-echo', { text: 'x' })).rejects.toMatchObject({ code: -32602 });
    } finally {
      await client.close();
    }
  });
});

describe('scoping /mcp', () => {
  it('narrows the catalog to the servers in x-mcp-servers', async () => {
    const client = await connectClient('v2-legacy', gateway.url, { ...gateway.headers, 'x-mcp-servers': 'web' });
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('web-echo');
      expect(names.some((n) => n.startsWith('fx-'))).toBe(false);
      await expect(client.callTool('fx-echo', { text: 'x' })).rejects.toMatchObject({ code: -32602 });
      expect(textOf(await client.callTool('web-echo', { text: 'in scope' }))).toBe('in scope');
    } finally {
      await client.close();
    }
  });

  it('refuses unknown servers in the path or the header', async () => {
    const headers = { ...auth, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    expect((await fetch(`${base}/mcp/nope`, { method: 'POST', headers, body })).status).toBe(404);
    expect((await fetch(`${base}/nope/mcp`, { method: 'POST', headers, body })).status).toBe(404);
    expect((await fetch(gateway.url, { method: 'POST', headers: { ...headers, 'x-mcp-servers': 'web,nope' }, body })).status).toBe(404);
  });
});
