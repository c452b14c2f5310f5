import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdio, MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';

let gateway: TestGateway;
const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
const LIST = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });

beforeAll(async () => {
  gateway = await startGateway({ servers: { fx: fixtureStdio() }, settings: { max_body_bytes: 4096 } });
});

afterAll(async () => {
  await gateway?.close();
});

function post(headers: Record<string, string>, body: string = LIST): Promise<Response> {
  return fetch(gateway.url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body });
}

/** Node's fetch cannot set Host, so the Host check is tested with http.request. */
function postWithHost(host: string): Promise<{ status: number; body: string }> {
  const url = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...MCP_HEADERS, Host: host, Authorization: `Bearer ${MASTER_KEY}` } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(LIST);
  });
}

describe('authentication', () => {
  it('refuses a missing or wrong key with 401 and a JSON-RPC error', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong' }, { 'x-litellm-api-key': 'Bearer wrong' }] as Record<string, string>[]) {
      const res = await post(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('Unauthorized') }, id: null });
    }
  });

  it('accepts the master key as Authorization or x-litellm-api-key', async () => {
    for (const headers of [{ Authorization: `Bearer ${MASTER_KEY}` }, { 'x-litellm-api-key': `Bearer ${MASTER_KEY}` }, { 'x-litellm-api-key': MASTER_KEY }] as Record<string, string>[]) {
      const res = await post(headers);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('fx-echo');
    }
  });
});

describe('request guards', () => {
  it('rejects a foreign Host header with 403', async () => {
    const evil = await postWithHost('evil.example.com');
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body)).toMatchObject({ error: { message: expect.stringContaining('Invalid Host') } });
    expect((await postWithHost(`localhost:${new URL(gateway.url).port}`)).status).toBe(200);
  });

  it('rejects a foreign Origin with 403 and accepts a local one', async () => {
    const auth = { Authorization: `Bearer ${MASTER_KEY}` };
    const evil = await post({ ...auth, Origin: 'http://evil.example.com' });
    expect(evil.status).toBe(403);
    expect((await post({ ...auth, Origin: 'http://localhost:3000' })).status).toBe(200);
  });

  it('answers an oversized body with 413', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'fx-echo', arguments: { text: 'x'.repeat(10_000) } } });
    const res = await post({ Authorization: `Bearer ${MASTER_KEY}` }, big);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { message: expect.stringContaining('max_body_bytes') } });
  });

  it('refuses JSON nested deeper than 64 levels with 400', async () => {
    let args: unknown = 'x';
    for (let i = 0; i < 100; i += 1) args = { a: args };
    const res = await post({ Authorization: `Bearer ${MASTER_KEY}` }, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'fx-echo', arguments: args } }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: -32600, message: expect.stringContaining('nests deeper than 64 levels') } });
  });

  it('answers an oversized chunked body (no Content-Length) with 413', async () => {
    const url = new URL(gateway.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...MCP_HEADERS, Authorization: `Bearer ${MASTER_KEY}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => undefined);
      req.on('close', () => reject(new Error('no response')));
      for (let i = 0; i < 10; i += 1) req.write('x'.repeat(1_000));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('answers malformed JSON with 400 and -32700, and keeps serving', async () => {
    const res = await post({ Authorization: `Bearer ${MASTER_KEY}` }, '{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: -32700 } });
    expect((await post({ Authorization: `Bearer ${MASTER_KEY}` })).status).toBe(200);
  });

  it('answers a well-formed body that is not JSON-RPC with a JSON-RPC error', async () => {
    const res = await post({ Authorization: `Bearer ${MASTER_KEY}` }, JSON.stringify({ hello: 'world' }));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
  });

  it('rejects an unsupported MCP-Protocol-Version with 400', async () => {
    const res = await post({ Authorization: `Bearer ${MASTER_KEY}`, 'MCP-Protocol-Version': '1999-01-01' });
    expect(res.status).toBe(400);
  });
});

describe('plain 2025-era calls', () => {
  const call = (params: unknown, id: unknown = 3): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params });
  const auth = { Authorization: `Bearer ${MASTER_KEY}` };

  it('are answered with one JSON response', async () => {
    const res = await post(auth, call({ name: 'fx-echo', arguments: { text: 'json' } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'json' }] } });
  });

  it('get JSON-RPC errors with the request id', async () => {
    expect(await (await post(auth, call({ name: 'fx-nope' }, 'a'))).json()).toMatchObject({ jsonrpc: '2.0', id: 'a', error: { code: -32602, message: 'Unknown tool: fx-nope' } });
  });

  it('that are malformed get the same answer as any other MCP request', async () => {
    const missingName = await post(auth, call({ arguments: {} }));
    expect(await missingName.text()).toMatch(/"code":-326/);
    const badArgs = await post(auth, call({ name: 'fx-echo', arguments: 'text' }));
    expect(await badArgs.text()).toMatch(/"code":-326/);
  });
});

describe('health', () => {
  it('answers liveliness and readiness (NATS up, a worker responding)', async () => {
    const base = gateway.url.replace('/mcp', '');
    const live = await fetch(`${base}/health/liveliness`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${base}/health/readiness`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'healthy', nats: 'connected', workers: 'responding' });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});
