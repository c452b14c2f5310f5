import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, ProtocolError, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { FIXTURE_TOOLS, GROW_TOOL, LONG_TOOL_NAME, startFixtureHttp, type FixtureHttpHandle } from '../src/index.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ALL_NAMES = [...FIXTURE_TOOLS.map(tool => tool.definition.name), GROW_TOOL.name];
const info = { name: 'fixture-test', version: '0.0.0' };

function textOf(result: CallToolResult): string {
  const [first] = result.content;
  if (first?.type !== 'text') throw new Error(`expected text content, got ${JSON.stringify(result.content)}`);
  return first.text;
}

async function connectHttp(url: string, options: ConstructorParameters<typeof Client>[1] = {}, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client(info, options);
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

describe('fixture over Streamable HTTP', () => {
  let fixture: FixtureHttpHandle;
  let paged: FixtureHttpHandle;
  let legacy: Client;
  let modern: Client;

  beforeAll(async () => {
    fixture = await startFixtureHttp({ port: 0 });
    paged = await startFixtureHttp({ port: 0, pageSize: 5 });
    legacy = await connectHttp(fixture.url, {}, { authorization: 'Bearer secret', 'x-tenant': 'acme', cookie: 'hidden' });
    modern = await connectHttp(fixture.url, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  });

  afterAll(async () => {
    await Promise.allSettled([legacy?.close(), modern?.close()]);
    await Promise.all([fixture?.close(), paged?.close()]);
  });

  it('negotiates both eras on one endpoint', () => {
    expect(legacy.getProtocolEra()).toBe('legacy');
    expect(modern.getProtocolEra()).toBe('modern');
  });

  it('lists every tool in one page by default', async () => {
    const page = await legacy.request({ method: 'tools/list', params: {} });
    expect(page.nextCursor).toBeUndefined();
    expect(page.tools.map(t => t.name)).toEqual(ALL_NAMES);
    expect(page.tools.every(t => typeof t.description === 'string')).toBe(true);
    expect(ALL_NAMES).toContain(LONG_TOOL_NAME);
  });

  it('paginates with offset cursors and rejects bad ones', async () => {
    const client = await connectHttp(paged.url);
    try {
      const names: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } });
        names.push(...page.tools.map(t => t.name));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBe(Math.ceil(ALL_NAMES.length / 5));
      expect(names).toEqual(ALL_NAMES);
      expect((await client.listTools()).tools.map(t => t.name)).toEqual(ALL_NAMES);
      await expect(client.request({ method: 'tools/list', params: { cursor: 'nope' } })).rejects.toMatchObject({ code: -32602 });
    } finally {
      await client.close();
    }
  });

  it('echoes, adds and reports tool-level and protocol-level errors', async () => {
    expect(textOf(await legacy.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
    const sum = await legacy.callTool({ name: 'add', arguments: { a: 2, b: 3.5 } });
    expect(textOf(sum)).toBe('5.5');
    expect(sum.structuredContent).toEqual({ sum: 5.5 });

    const failed = await legacy.callTool({ name: 'fail', arguments: { message: 'nope' } });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toBe('nope');
    expect(textOf(await legacy.callTool({ name: 'fail', arguments: {} }))).toBe('fixture failure');

    const thrown = legacy.callTool({ name: 'throw', arguments: {} });
    await expect(thrown).rejects.toBeInstanceOf(ProtocolError);
    await expect(thrown).rejects.toMatchObject({ code: -32603, message: expect.stringContaining('fixture threw') as unknown });
    await expect(legacy.callTool({ name: 'missing', arguments: {} })).rejects.toMatchObject({ code: -32602 });
  });

  it('leaves schema validation to the caller', async () => {
    const bad = { email: 'not-an-email', count: 99, extra: true };
    expect(textOf(await legacy.callTool({ name: 'validate_me', arguments: bad }))).toBe('ok');
    expect(textOf(await legacy.callTool({ name: 'validate_2020', arguments: { point: [1, 2] } }))).toBe('ok');
    expect(textOf(await legacy.callTool({ name: LONG_TOOL_NAME, arguments: {} }))).toBe('long name ok');
  });

  for (const era of ['legacy', 'modern'] as const) {
    it(`streams progress from slow (${era})`, async () => {
      const client = era === 'legacy' ? legacy : modern;
      const seen: { progress: number; total?: number; message?: string }[] = [];
      const result = await client.callTool({ name: 'slow', arguments: { steps: 3, delayMs: 20 } }, { onprogress: p => seen.push(p) });
      expect(textOf(result)).toBe('done after 3 steps');
      // The client may drop the last update when it races the response (SDK issue #2580).
      expect(seen.length).toBeGreaterThanOrEqual(2);
      seen.forEach((p, i) => expect(p).toEqual({ progress: i + 1, total: 3, message: `step ${i + 1}/3` }));
    });
  }

  it('serves calls in the modern era', async () => {
    expect(textOf(await modern.callTool({ name: 'echo', arguments: { text: 'modern' } }))).toBe('modern');
    expect((await modern.callTool({ name: 'add', arguments: { a: 1, b: 1 } })).structuredContent).toEqual({ sum: 2 });
    await expect(modern.callTool({ name: 'throw', arguments: {} })).rejects.toMatchObject({ code: -32603 });
    await expect(modern.callTool({ name: 'sleep', arguments: { ms: 60_000 } }, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
  });

  it('reports forwarded credential headers and records requests', async () => {
    const seen = JSON.parse(textOf(await legacy.callTool({ name: 'whoami', arguments: {} }))) as Record<string, string>;
    expect(seen).toEqual({ authorization: 'Bearer secret', 'x-tenant': 'acme' });

    const call = fixture.requests.find(r => r.rpcMethod === 'tools/call' && r.headers['x-tenant'] === 'acme');
    expect(call).toMatchObject({ method: 'POST', path: '/mcp', headers: { authorization: 'Bearer secret' } });
    expect(fixture.requests.some(r => r.rpcMethod === 'initialize')).toBe(true);
  });

  it('closes idempotently', async () => {
    const extra = await startFixtureHttp({ port: 0 });
    await Promise.all([extra.close(), extra.close()]);
    await extra.close();
    await expect(fetch(extra.url, { method: 'POST' })).rejects.toThrow();
  });
});

describe('fixture over stdio', () => {
  it('lists, echoes and reads the env it was given', async () => {
    const client = new Client(info);
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: ['--import', 'tsx', MAIN, '--stdio'],
        cwd: REPO_ROOT,
        env: { FIXTURE_PROBE: 'from-config' },
        stderr: 'pipe',
      }),
    );
    try {
      expect((await client.listTools()).tools.map(t => t.name)).toEqual(ALL_NAMES);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'over stdio' } }))).toBe('over stdio');
      expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'FIXTURE_PROBE' } }))).toBe('from-config');
      expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'FIXTURE_UNSET_VAR' } }))).toBe('');
      expect(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).toBe('{}');
    } finally {
      await client.close();
    }
  });
});
