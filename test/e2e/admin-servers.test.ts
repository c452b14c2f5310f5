import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { textOf, withKey } from '../harness/clients.js';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { FIXTURE_MAIN } from '../harness/paths.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

// MCP servers managed through LiteLLM's /v1/mcp/server API: stored in NATS KV, live on every
// replica within a second, secrets write-only, and guarded against SSRF and stdio injection.
let http: FixtureHttpHandle;
let gateway: TestGateway;
let base: string[];

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({
    servers: { fixed: { url: http.url } },
    ingresses: 2,
    workers: 2,
    runners: 1,
    settings: { upstream_url_allowlist: ['127.0.0.1'], api_stdio_commands: ['node', 'npx'] },
  });
  base = gateway.urls.map((u) => u.replace(/\/mcp$/, ''));
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

async function api(method: string, path: string, body?: unknown, options: { key?: string; replica?: number } = {}): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base[options.replica ?? 0] ?? ''}${path}`, {
    method,
    headers: { Authorization: `Bearer ${options.key ?? MASTER_KEY}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

const admin = { Authorization: `Bearer ${MASTER_KEY}` };

async function toolsOn(replica: number): Promise<string[]> {
  const response = responseOf(await legacyRpc(gateway.urls[replica] ?? '', admin, 'tools/list', {}));
  return ((response.result?.['tools'] ?? []) as { name: string }[]).map((t) => t.name);
}

async function call(replica: number, name: string, args: Record<string, unknown> = {}): Promise<{ text?: string; error?: { code: number; message: string } }> {
  const response = responseOf(await legacyRpc(gateway.urls[replica] ?? '', admin, 'tools/call', { name, arguments: args }));
  return response.result === undefined ? { ...(response.error === undefined ? {} : { error: response.error }) } : { text: textOf(response.result) };
}

/**
 * Milliseconds until `probe` holds (it fails the test after `timeoutMs`). Lists and calls go to
 * either worker (a queue group), so the probe must then hold ten times in a row: one worker that
 * never saw the change would show within those.
 */
async function within(probe: () => Promise<boolean>, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  while (!(await probe())) {
    if (Date.now() - started > timeoutMs) throw new Error('the change never arrived');
    await new Promise((r) => setTimeout(r, 10));
  }
  const tookMs = Date.now() - started;
  for (let i = 0; i < 10; i += 1) expect(await probe()).toBe(true);
  return tookMs;
}

describe('/v1/mcp/server', () => {
  it('adds a server that every replica serves within a second, and tells connected clients', async () => {
    const listener = new Client({ name: 'list-changed', version: '1.0.0' });
    let changes = 0;
    listener.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changes += 1;
    });
    await listener.connect(new SSEClientTransport(new URL(`${base[1] ?? ''}/sse`), { fetch: withKey(MASTER_KEY) }));
    try {
      const created = await api('POST', '/v1/mcp/server', {
        server_name: 'dyn',
        transport: 'http',
        url: http.url,
        auth_type: 'bearer_token',
        credentials: { auth_value: 'secret-token' },
        static_headers: { 'X-Tenant': 'acme' },
        description: 'added at run time',
      });
      expect(created.status, JSON.stringify(created.json)).toBe(200);
      const added = Date.now();
      expect(created.json).toMatchObject({ server_name: 'dyn', transport: 'http', auth_type: 'bearer_token', auth_value: '********', static_headers: { 'X-Tenant': '********' }, source: 'api', read_only: false });
      expect(JSON.stringify(created.json)).not.toContain('secret-token');
      expect(JSON.stringify(created.json)).not.toContain('acme');

      // From the POST's answer until the other replica's workers list the new tools (the
      // confirming probes within() makes after the first success are not counted).
      const before = Date.now() - added;
      const tookMs = await within(async () => (await toolsOn(1)).includes('dyn-whoami'));
      expect(before + tookMs).toBeLessThan(1_000);
      // The secrets reached the upstream, never an API answer.
      expect(JSON.parse((await call(1, 'dyn-whoami')).text ?? '{}')).toMatchObject({ authorization: 'Bearer secret-token', 'x-tenant': 'acme' });
      await within(() => Promise.resolve(changes > 0));

      const listed = (await api('GET', '/v1/mcp/server', undefined, { replica: 1 })).json as Record<string, unknown>[];
      expect(listed.map((s) => s['server_name'])).toEqual(['fixed', 'dyn']);
      expect(listed[0]).toMatchObject({ source: 'config', read_only: true });
      expect(JSON.stringify(listed)).not.toContain('secret-token');
      const one = await api('GET', `/v1/mcp/server/${String(created.json && (created.json as Record<string, unknown>)['server_id'])}`, undefined, { replica: 1 });
      expect(one.json).toMatchObject({ server_name: 'dyn', auth_value: '********' });
    } finally {
      await listener.close();
    }
  });

  it('updates a server in place, keeping secrets that were not sent again', async () => {
    const created = await api('POST', '/v1/mcp/server', { server_id: 'upd-1', server_name: 'upd', url: http.url, auth_type: 'api_key', auth_value: 'key-one', static_headers: { 'X-Stage': 'one' } });
    expect(created.status).toBe(200);
    await within(async () => (await call(1, 'upd-whoami')).text !== undefined);
    const updated = await api('PUT', '/v1/mcp/server', { server_id: 'upd-1', static_headers: { 'X-Stage': 'two' } }, { replica: 1 });
    expect(updated.status, JSON.stringify(updated.json)).toBe(200);
    await within(async () => (JSON.parse((await call(0, 'upd-whoami')).text ?? '{}') as Record<string, string>)['x-stage'] === 'two');
    expect(JSON.parse((await call(0, 'upd-whoami')).text ?? '{}')).toMatchObject({ 'x-api-key': 'key-one', 'x-stage': 'two' });
  });

  it('removes a server from every replica within a second', async () => {
    expect((await api('POST', '/v1/mcp/server', { server_id: 'gone-1', server_name: 'gone', url: http.url })).status).toBe(200);
    await within(async () => (await toolsOn(1)).includes('gone-echo'));
    const deleted = await api('DELETE', '/v1/mcp/server/gone-1', undefined, { replica: 1 });
    expect(deleted.status).toBe(202);
    const tookMs = await within(async () => !(await toolsOn(0)).includes('gone-echo'));
    expect(tookMs).toBeLessThan(1_000);
    expect((await call(0, 'gone-echo', { text: 'x' })).error).toMatchObject({ code: -32602, message: 'Unknown tool: gone-echo' });
    expect((await api('GET', '/v1/mcp/server/gone-1')).status).toBe(404);
  });

  it('runs calls to an API-added server as jobs on the runner', async () => {
    expect((await api('POST', '/v1/mcp/server', { server_name: 'dynjob', url: http.url, execution: 'job' })).status).toBe(200);
    await within(async () => (await toolsOn(0)).includes('dynjob-slow'));
    expect((await call(0, 'dynjob-slow', { steps: 2, delayMs: 10 })).text).toBe('done after 2 steps');
  });

  it('keeps grants with the server through a rename, and gives none to a new server that takes an old name', async () => {
    expect((await api('POST', '/v1/mcp/server', { server_id: 'rep-1', server_name: 'reports', url: http.url })).status).toBe(200);
    const key = ((await api('POST', '/key/generate', { object_permission: { mcp_servers: ['reports'] } })).json as { key: string }).key;
    const as = (name: string) => legacyRpc(gateway.urls[0] ?? '', { Authorization: `Bearer ${key}` }, 'tools/call', { name, arguments: { text: 'x' } });
    await within(async () => responseOf(await as('reports-echo')).result !== undefined);
    // Renamed: the grant follows the server.
    expect((await api('PUT', '/v1/mcp/server', { server_id: 'rep-1', server_name: 'reports2' })).status).toBe(200);
    await within(async () => responseOf(await as('reports2-echo')).result !== undefined);
    // Deleted, and another server created under the first name: the key gets nothing of it.
    expect((await api('DELETE', '/v1/mcp/server/rep-1')).status).toBe(202);
    expect((await api('POST', '/v1/mcp/server', { server_id: 'rep-2', server_name: 'reports', url: http.url })).status).toBe(200);
    await within(async () => (await toolsOn(0)).includes('reports-echo'));
    expect(responseOf(await as('reports-echo')).error).toMatchObject({ code: -32003 });
  });

  it('keeps server ids and names apart', async () => {
    expect((await api('POST', '/v1/mcp/server', { server_id: 'idonly', server_name: 'named', url: http.url })).status).toBe(200);
    expect((await api('POST', '/v1/mcp/server', { server_name: 'idonly', url: http.url })).status).toBe(400);
    expect((await api('POST', '/v1/mcp/server', { server_id: 'named', server_name: 'other', url: http.url })).status).toBe(400);
    expect((await api('POST', '/v1/mcp/server', { server_id: 'fixed', server_name: 'other2', url: http.url })).status).toBe(400);
  });

  it('keeps config.yaml servers read-only and names unique', async () => {
    const put = await api('PUT', '/v1/mcp/server', { server_id: 'fixed', url: 'http://127.0.0.1:1/mcp' });
    expect(put.status).toBe(403);
    expect(JSON.stringify(put.json)).toContain('config.yaml');
    expect((await api('DELETE', '/v1/mcp/server/fixed')).status).toBe(403);
    expect((await api('POST', '/v1/mcp/server', { server_name: 'fixed', url: http.url })).status).toBe(400);
    expect((await api('POST', '/v1/mcp/server', { server_name: 'FIXED', url: http.url })).status).toBe(400);
    expect((await api('POST', '/v1/mcp/server', { server_name: 'bad name!', url: http.url })).status).toBe(400);
    const envRef = await api('POST', '/v1/mcp/server', { server_name: 'leaky', url: http.url, auth_type: 'bearer_token', auth_value: 'os.environ/HOME' });
    expect(envRef.status).toBe(400);
    expect(JSON.stringify(envRef.json)).toContain('only in config.yaml');
  });

  it('is for the master key only, and lists to other keys only what they may use', async () => {
    const key = ((await api('POST', '/key/generate', { object_permission: { mcp_servers: ['fixed'] } })).json as { key: string }).key;
    expect((await api('POST', '/v1/mcp/server', { server_name: 'mine', url: http.url }, { key })).status).toBe(403);
    expect((await api('DELETE', '/v1/mcp/server/upd-1', undefined, { key })).status).toBe(403);
    const visible = (await api('GET', '/v1/mcp/server', undefined, { key })).json as { server_name: string; url: string }[];
    expect(visible.map((s) => s.server_name)).toEqual(['fixed']);
    // Other keys see where a server is, not the path of its URL (which may carry a token).
    expect(visible[0]?.url).toBe(new URL(http.url).origin);
    expect((await api('GET', '/v1/mcp/server/upd-1', undefined, { key })).status).toBe(404);
  });
});

describe('the SSRF guard on servers added through the API', () => {
  it.each([
    ['http://169.254.169.254/latest/meta-data', 'cloud metadata'],
    ['http://10.1.2.3:8080/mcp', 'private'],
    ['http://127.0.0.2:9/mcp', 'loopback'],
    ['http://[::1]:9/mcp', 'loopback'],
    ['http://0.0.0.0:9/mcp', 'unspecified'],
  ])('refuses %s (%s)', async (url, why) => {
    const refused = await api('POST', '/v1/mcp/server', { server_name: 'ssrf', url });
    expect(refused.status).toBe(403);
    const message = JSON.stringify(refused.json);
    expect(message).toContain(why);
    expect(message).toContain('upstream_url_allowlist');
    expect(message).not.toContain('meta-data');
  });

  it('refuses a URL with credentials in it and schemes other than http(s)', async () => {
    expect((await api('POST', '/v1/mcp/server', { server_name: 'creds', url: `http://user:pw@127.0.0.1:${new URL(http.url).port}/mcp` })).status).toBeGreaterThanOrEqual(400);
    expect((await api('POST', '/v1/mcp/server', { server_name: 'file', url: 'file:///etc/passwd' })).status).toBe(400);
  });
});

describe('stdio servers through the API', () => {
  it('runs an allowed launcher without a shell, and serves its tools', async () => {
    // npx finds the workspace's tsx; no flag of npx or node is needed to start the fixture.
    const created = await api('POST', '/v1/mcp/server', { server_name: 'viaapi', transport: 'stdio', command: 'npx', args: ['tsx', FIXTURE_MAIN, '--stdio'], env: { FIXTURE_NOTE: 'secret-note' } });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    expect(created.json).toMatchObject({ transport: 'stdio', command: 'npx', env: { FIXTURE_NOTE: '********' } });
    await within(async () => (await call(1, 'viaapi-echo', { text: 'from stdio' })).text === 'from stdio', 30_000);
    const listed = (await api('GET', '/v1/mcp/server')).json as Record<string, unknown>[];
    expect(JSON.stringify(listed)).not.toContain('secret-note');
  });

  it.each([
    [{ command: 'bash', args: ['-c', 'id'] }, 'bash'],
    [{ command: 'python3', args: ['server.py'] }, 'api_stdio_commands'],
    [{ command: '/tmp/node', args: ['x.js'] }, 'api_stdio_commands'],
    [{ command: 'node', args: ['-e', 'require("child_process").exec("id")'] }, '-e'],
    [{ command: 'node', args: ['--eval=1'] }, '--eval'],
    [{ command: 'npx', args: ['-c', 'id'] }, '-c'],
    [{ command: 'node', args: ['server.js'], env: { NODE_OPTIONS: '--require /tmp/x.js' } }, 'NODE_OPTIONS'],
    [{ command: 'node', args: ['server.js'], cwd: '/tmp' }, 'cwd'],
  ])('refuses %j', async (entry, why) => {
    const refused = await api('POST', '/v1/mcp/server', { server_name: 'cmd', transport: 'stdio', ...entry });
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.json)).toContain(why);
  });
});
