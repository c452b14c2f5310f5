import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, textOf, type TestClient } from '../harness/clients.js';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { REPO_ROOT } from '../harness/paths.js';

const MODULE = resolve(REPO_ROOT, 'test/fixtures/local-tools.ts');
let gateway: TestGateway;
let client: TestClient;

beforeAll(async () => {
  gateway = await startGateway({
    servers: {},
    settings: { call_timeout_ms: 500 },
    extra: {
      mcp_tools: [
        { name: 'greet', description: 'Greets', input_schema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }, handler: `${MODULE}#greet` },
        { name: 'sum', input_schema: { type: 'object', properties: { values: { type: 'array', items: { type: 'number' } } }, required: ['values'] }, handler: `${MODULE}#sum` },
        { name: 'boom', handler: `${MODULE}#boom` },
        { name: 'count', input_schema: { type: 'object', properties: { to: { type: 'integer', maximum: 10 } } }, handler: `${MODULE}#count` },
        { name: 'hang', handler: `${MODULE}#hang` },
      ],
    },
  });
  client = await connectClient('v2-legacy', gateway.url, gateway.headers);
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
});

describe('mcp_tools (local tools)', () => {
  it('are listed under their own server name', async () => {
    const tools = (await client.listTools()).tools;
    expect(tools.map((t) => t.name).sort()).toEqual(['local-boom', 'local-count', 'local-greet', 'local-hang', 'local-sum']);
    expect(tools.find((t) => t.name === 'local-greet')?.inputSchema).toMatchObject({ required: ['name'] });
  });

  it('run their handler with the arguments, and return its result', async () => {
    expect(textOf(await client.callTool('local-greet', { name: 'Ada' }))).toBe('hello, Ada');
    const total = await client.callTool('local-sum', { values: [1, 2, 3.5] });
    expect(textOf(total)).toBe('6.5');
    expect(total.structuredContent).toEqual({ total: 6.5 });
    const progress: number[] = [];
    const counted = await client.callTool('local-count', { to: 4 }, { onprogress: (p) => progress.push(p.progress) });
    expect(JSON.parse(textOf(counted))).toEqual({ counted: 4 });
    expect(progress).toEqual([1, 2, 3, 4]);
  });

  it('validate arguments against input_schema before the handler runs', async () => {
    const result = await client.callTool('local-greet', {});
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('name: is required');
    expect(textOf(await client.callTool('local-count', { to: 11 }))).toContain('to: must be <= 10');
  });

  it('turn a throwing handler into an isError result, and keep serving', async () => {
    const result = await client.callTool('local-boom', {});
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('the handler failed on purpose');
    expect(textOf(await client.callTool('local-greet', { name: 'again' }))).toBe('hello, again');
  });

  it('time out like any upstream', async () => {
    await expect(client.callTool('local-hang', {})).rejects.toMatchObject({ code: -32001, message: expect.stringContaining('"local" did not answer within') });
    expect(textOf(await client.callTool('local-greet', { name: 'after' }))).toBe('hello, after');
  });

  it('are refused at start-up when the handler cannot be loaded', async () => {
    await expect(startGateway({ servers: {}, extra: { mcp_tools: [{ name: 'x', handler: `${MODULE}#notAFunction` }] } })).rejects.toThrow(
      /mcp_tools "x": .* has no exported function "notAFunction"/,
    );
    await expect(startGateway({ servers: {}, extra: { mcp_tools: [{ name: 'y', handler: `${MODULE}.missing.ts#f` }] } })).rejects.toThrow(/mcp_tools "y": cannot load/);
  });
});
