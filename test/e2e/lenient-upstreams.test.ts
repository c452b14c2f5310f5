import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOf } from '../harness/clients.js';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

// Upstreams that speak 2026-07-28 imperfectly, as servers on the 1.x SDK do (the conformance
// suite's own reference server among them): written here on the wire, since no SDK server
// answers this way. `hello` leaves `resultType` out of its result, which every earlier revision
// allows and mcpbus takes as complete; `two_texts` answers with two JSON texts, one per line, under
// application/json, which mcpbus reads as the batch it amounts to; `broken` answers
// with a body that is not JSON, which gets a precise error.

let upstream: Server;
let gateway: TestGateway;

function answer(method: string, params: Record<string, unknown>): { result: Record<string, unknown> } | { ndjson: string[] } | { raw: string } | undefined {
  const meta = { 'io.modelcontextprotocol/serverInfo': { name: 'bare-2026', version: '1.0.0' } };
  if (method === 'server/discover') return { result: { supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, ttlMs: 0, cacheScope: 'private', _meta: meta, resultType: 'complete' } };
  if (method === 'tools/list') {
    const tools = [
      { name: 'hello', inputSchema: { type: 'object' } },
      { name: 'two_texts', inputSchema: { type: 'object' } },
      { name: 'broken', inputSchema: { type: 'object' } },
    ];
    return { result: { tools, ttlMs: 0, cacheScope: 'private', resultType: 'complete' } };
  }
  if (method === 'tools/call' && params['name'] === 'hello') return { result: { content: [{ type: 'text', text: 'hello without a resultType' }] } };
  if (method === 'tools/call' && params['name'] === 'broken') return { raw: '{"jsonrpc":"2.0","id":' };
  if (method === 'tools/call' && params['name'] === 'two_texts') return { ndjson: [JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } })] };
  return undefined;
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: number; method: string; params?: Record<string, unknown> };
      const reply = answer(message.method, message.params ?? {});
      if (reply === undefined) {
        res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id ?? null, error: { code: -32601, message: 'not here' } }));
        return;
      }
      if ('raw' in reply) return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(reply.raw);
      if ('ndjson' in reply) {
        const last = JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text: 'read line by line' }], resultType: 'complete' } });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${[...reply.ndjson, last].join('\n')}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: reply.result }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { port } = upstream.address() as AddressInfo;
  gateway = await startGateway({ servers: { bare: { url: `http://127.0.0.1:${port}/mcp` } } });
});

afterAll(async () => {
  await gateway?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('2026-07-28 upstreams that bend the rules', () => {
  it('a tools/call result without resultType is taken as complete', async () => {
    const { result, error } = responseOf(await legacyRpc(gateway.url, gateway.headers, 'tools/call', { name: 'bare-hello', arguments: {} }));
    expect(error).toBeUndefined();
    expect(textOf(result as never)).toBe('hello without a resultType');
  });

  it('several messages one per line under application/json are read as a batch', async () => {
    const { result, error } = responseOf(await legacyRpc(gateway.url, gateway.headers, 'tools/call', { name: 'bare-two_texts', arguments: {} }));
    expect(error).toBeUndefined();
    expect(textOf(result as never)).toBe('read line by line');
  });

  it('an answer that is not JSON is an upstream error that says so, not an outage', async () => {
    const { error } = responseOf(await legacyRpc(gateway.url, gateway.headers, 'tools/call', { name: 'bare-broken', arguments: {} }));
    expect(error?.code).toBe(-32603);
    expect(error?.message).toMatch(/"bare" answered with something that is not valid MCP/);
    // The server is still served.
    expect(textOf(responseOf(await legacyRpc(gateway.url, gateway.headers, 'tools/call', { name: 'bare-hello', arguments: {} })).result as never)).toBe('hello without a resultType');
  });
});
