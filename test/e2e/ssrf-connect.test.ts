import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, startFixtureSse, type FixtureHttpHandle, type FixtureSseHandle } from '@mcpbus/fixture-server';
import { DEFAULT_SETTINGS, parseServerEntry, type ServerConfig } from '@mcpbus/config';
import { silentLogger } from '@mcpbus/logging';
import { createServerSessions } from '@mcpbus/upstream';

// The SSRF guard at connect time: a server added through the API is checked again on every
// connection, on the address it actually connects to, so a name that resolved to a public address
// when it was registered cannot later reach a private one (DNS rebinding). Real MCP transports
// against the real fixture server on 127.0.0.1.
let http: FixtureHttpHandle;
let sse: FixtureSseHandle;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  sse = await startFixtureSse({ port: 0 });
});

afterAll(async () => {
  await http?.close();
  await sse?.close();
});

function apiServer(transport: 'http' | 'sse', allow: readonly string[]): ServerConfig {
  const url = transport === 'http' ? http.url : sse.url;
  const parsed = parseServerEntry('guarded', { url, transport, timeout_ms: 2_000 }, DEFAULT_SETTINGS);
  if ('problems' in parsed) throw new Error(parsed.problems.join('; '));
  return { ...parsed.server, ssrfAllowlist: allow };
}

describe.each(['http', 'sse'] as const)('an API-added %s server', (transport) => {
  it('cannot connect to a loopback address that is not allow-listed', async () => {
    const sessions = createServerSessions({ server: apiServer(transport, []), log: silentLogger(), connectTimeoutMs: 2_000 });
    try {
      const refused = await sessions.acquire().then(() => undefined, (err: unknown) => err as { code: string; message: string });
      expect(refused?.code).toBe('upstream_unavailable');
      expect(refused?.message).toMatch(/SSRF guard refused/);
      expect(refused?.message).not.toContain('127.0.0.1');
    } finally {
      await sessions.close();
    }
  });

  it('connects once the address is allow-listed', async () => {
    const sessions = createServerSessions({ server: apiServer(transport, ['127.0.0.1']), log: silentLogger(), connectTimeoutMs: 2_000 });
    try {
      const client = await sessions.acquire();
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    } finally {
      await sessions.close();
    }
  });
});
