import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONG_TOOL_NAME, startFixtureHttp, startFixtureSse, type FixtureHttpHandle, type FixtureSseHandle } from '@mcpbus/fixture-server';
import { CLIENT_KINDS, connectClient, textOf, type TestClient } from '../harness/clients.js';
import { fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';

let upstream: FixtureHttpHandle;
let legacy: FixtureSseHandle;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = await startFixtureHttp({ port: 0, pageSize: 4 });
  legacy = await startFixtureSse({ port: 0 });
  gateway = await startGateway({
    servers: {
      fx: fixtureStdio(),
      web: { url: upstream.url, auth_type: 'bearer_token', auth_value: 'upstream-secret' },
      narrow: { url: upstream.url, allowed_tools: ['echo', 'add'], disallowed_tools: ['add'] },
      // A URL not ending in /mcp means the 2024-11-05 HTTP+SSE transport.
      old: { url: legacy.url },
    },
  });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  await legacy?.close();
});

describe.each(CLIENT_KINDS)('relay through /mcp with the %s client', (kind) => {
  let client: TestClient;
  beforeAll(async () => {
    client = await connectClient(kind, gateway.url, gateway.headers);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('lists every tool of every upstream under prefixed names, all pages included', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const tool of ['echo', 'add', 'slow', 'fail', 'validate_me', 'whoami']) {
      expect(names).toContain(`fx-${tool}`);
      expect(names).toContain(`web-${tool}`);
      expect(names).toContain(`old-${tool}`);
    }
    // The HTTP fixture pages its list 4 tools at a time; the gateway must walk every page.
    expect(names.filter((n) => n.startsWith('web-'))).toHaveLength(names.filter((n) => n.startsWith('fx-')).length);
    const long = names.filter((n) => n.startsWith('fx-a_tool_with'));
    expect(long).toHaveLength(1);
    expect(long[0]?.length).toBeLessThanOrEqual(64);
    expect(names.every((n) => /^[A-Za-z0-9_.-]{1,64}$/.test(n))).toBe(true);
  });

  it('calls tools on stdio, Streamable HTTP and legacy SSE upstreams and returns their results unchanged', async () => {
    expect(textOf(await client.callTool('fx-echo', { text: `hi ${kind}` }))).toBe(`hi ${kind}`);
    expect(textOf(await client.callTool('old-echo', { text: `sse ${kind}` }))).toBe(`sse ${kind}`);
    const sum = await client.callTool('web-add', { a: 2, b: 40 });
    expect(textOf(sum)).toBe('42');
    expect(sum.structuredContent).toEqual({ sum: 42 });
    expect(JSON.stringify(sum)).not.toContain('mcpbus-fixture');
  });

  it('calls a tool whose long name was shortened', async () => {
    const { tools } = await client.listTools();
    const long = tools.find((t) => t.name.startsWith('web-a_tool_with'));
    expect(long).toBeDefined();
    expect(textOf(await client.callTool(long?.name ?? '', {}))).toBe('long name ok');
    expect(LONG_TOOL_NAME.length).toBeGreaterThan(64);
  });

  it('streams every progress notification, in order, before the result', async () => {
    for (const tool of ['fx-slow', 'web-slow', 'old-slow']) {
      const seen: number[] = [];
      const result = await client.callTool(tool, { steps: 5, delayMs: 20 }, { onprogress: (p) => seen.push(p.progress) });
      expect(textOf(result)).toBe('done after 5 steps');
      // The SDK client may drop the very last update when it races the result (typescript-sdk#2580).
      expect(seen.length).toBeGreaterThanOrEqual(4);
      expect(seen).toEqual([1, 2, 3, 4, 5].slice(0, seen.length));
    }
  });

  it('answers an unknown tool with JSON-RPC -32602', async () => {
    await expect(client.callTool('fx-no_such_tool', {})).rejects.toMatchObject({ code: -32602 });
    await expect(client.callTool('nosuchserver-echo', {})).rejects.toMatchObject({ code: -32602 });
    await expect(client.callTool('noseparator', {})).rejects.toMatchObject({ code: -32602 });
  });

  it('rejects invalid arguments as a tool error naming each bad field', async () => {
    const result = await client.callTool('fx-validate_me', { email: 'not-an-email', count: 11, extra: true });
    expect(result.isError).toBe(true);
    const text = textOf(result);
    expect(text).toContain('email: must match format "email"');
    expect(text).toContain('count: must be <= 10');
    expect(text).toContain('extra: is not an accepted argument');
    const missing = await client.callTool('web-validate_2020', { point: [1, 'x', 3] });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/point\[1\]: must be number/);
    expect(textOf(missing)).toMatch(/point: must NOT have more than 2 items/);
    const ok = await client.callTool('web-validate_2020', { point: [1, 2], when: '2026-11-21T10:00:00Z' });
    expect(ok.isError).toBeFalsy();
  });

  it('passes upstream isError results and upstream errors through', async () => {
    const failed = await client.callTool('fx-fail', { message: 'boom' });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toBe('boom');
    await expect(client.callTool('web-throw', {})).rejects.toMatchObject({ code: -32603, message: expect.stringContaining('"web"') });
  });

  it('answers ping', async () => {
    await expect(client.ping()).resolves.toBeUndefined();
  });
});

describe('LiteLLM tool filters', () => {
  it('exposes only allowed tools and treats the rest as unknown', async () => {
    const client = await connectClient('v2-legacy', gateway.url, gateway.headers);
    const names = (await client.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith('narrow-'));
    expect(names).toEqual(['narrow-echo']);
    expect(textOf(await client.callTool('narrow-echo', { text: 'ok' }))).toBe('ok');
    await expect(client.callTool('narrow-add', { a: 1, b: 2 })).rejects.toMatchObject({ code: -32602 });
    await expect(client.callTool('narrow-whoami', {})).rejects.toMatchObject({ code: -32602 });
    await client.close();
  });
});

describe('upstream credentials', () => {
  it('sends the configured auth to the HTTP upstream and never the gateway key', async () => {
    const client = await connectClient('v2-legacy', gateway.url, gateway.headers);
    const result = await client.callTool('web-whoami', {});
    const seen = JSON.parse(textOf(result)) as Record<string, string>;
    expect(seen['authorization']).toBe('Bearer upstream-secret');
    expect(JSON.stringify(upstream.requests)).not.toContain('sk-test-master');
    await client.close();
  });
});
