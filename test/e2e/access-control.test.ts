import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { connect as connectBusClient } from '@mcpbus/client';
import { API_KEY_HEADER, createSubjects, newCallId } from '@mcpbus/protocol';
import { textOf, withKey } from '../harness/clients.js';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { NATS_URL } from '../harness/paths.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

// Keys and teams through the admin API, then every surface (/mcp, /mcp/{server}, legacy SSE,
// REST, the bus) with no key, a wrong key, a revoked key, a key without access and one with it.
let http: FixtureHttpHandle;
let gateway: TestGateway;
let nc: NatsConnection;
let base: string[];

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  // One runner running one job at a time: a job can be made to wait in the queue.
  gateway = await startGateway({ servers: { alpha: { url: http.url }, beta: { url: http.url } }, ingresses: 2, workers: 2, runners: 1, settings: { job_concurrency: 1 } });
  base = gateway.urls.map((u) => u.replace(/\/mcp$/, ''));
  nc = await connect({ servers: NATS_URL, name: 'access-control-test' });
});

afterAll(async () => {
  await nc?.drain();
  await gateway?.close();
  await http?.close();
});

/** An admin API request on one replica; the JSON answer and its status. */
async function api(path: string, body?: unknown, options: { key?: string; method?: string; replica?: number } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base[options.replica ?? 0] ?? ''}${path}`, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { Authorization: `Bearer ${options.key ?? MASTER_KEY}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function newKey(body: Record<string, unknown>): Promise<string> {
  const { status, json } = await api('/key/generate', body);
  expect(status, JSON.stringify(json)).toBe(200);
  return json['key'] as string;
}

const keyHeader = (key: string | undefined): Record<string, string> => (key === undefined ? {} : { Authorization: `Bearer ${key}` });

async function mcpCall(key: string | undefined, name: string, replica = 0): Promise<{ status: number; text?: string; error?: { code: number; message: string } }> {
  const res = await fetch(gateway.urls[replica] ?? '', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25', ...keyHeader(key) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: { text: 'hi' } } }),
  });
  const body = (await res.json()) as { result?: { content: { text: string }[] }; error?: { code: number; message: string } };
  return { status: res.status, ...(body.result === undefined ? {} : { text: body.result.content[0]?.text ?? '' }), ...(body.error === undefined ? {} : { error: body.error }) };
}

async function mcpTools(key: string, url = gateway.url): Promise<string[]> {
  const response = responseOf(await legacyRpc(url, keyHeader(key), 'tools/list', {}));
  if (response.result === undefined) throw new Error(JSON.stringify(response.error));
  return (response.result['tools'] as { name: string }[]).map((t) => t.name).sort();
}

type BusReply = { ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string } };

async function busAsk(subject: string, body: unknown, key: string | undefined): Promise<BusReply> {
  const h = headers();
  if (key !== undefined) h.set(API_KEY_HEADER, key);
  return (await nc.request(subject, JSON.stringify(body), { timeout: 10_000, headers: h })).json<BusReply>();
}

function busCall(key: string | undefined, server: string, name: string): Promise<BusReply> {
  const subjects = createSubjects(gateway.config.settings.subjectRoot);
  return busAsk(subjects.toolsCall(server), { v: 1, callId: newCallId(), server, name, arguments: { text: 'bus' }, progress: false, deadlineAt: Date.now() + 10_000 }, key);
}

describe('keys and teams', () => {
  let alphaKey: string;
  let betaKey: string;
  let revokedKey: string;
  let teamId: string;

  beforeAll(async () => {
    const team = await api('/team/new', { team_alias: 'platform', object_permission: { mcp_servers: ['alpha', 'beta'] } });
    expect(team.status).toBe(200);
    teamId = team.json['team_id'] as string;
    // alpha only, and of alpha only echo and whoami; within a team that allows alpha and beta.
    alphaKey = await newKey({ key_alias: 'alpha-app', team_id: teamId, object_permission: { mcp_servers: ['alpha'], mcp_tool_permissions: { alpha: ['echo', 'whoami'] } } });
    betaKey = await newKey({ key_alias: 'beta-app', object_permission: { mcp_servers: ['beta'] } });
    revokedKey = await newKey({ key_alias: 'gone' });
    expect((await api('/key/delete', { keys: [revokedKey] })).status).toBe(200);
  });

  it('stores keys hashed and shows them masked', async () => {
    const info = await api(`/key/info?key=${encodeURIComponent(alphaKey)}`);
    expect(info.status).toBe(200);
    expect(JSON.stringify(info.json)).not.toContain(alphaKey);
    expect((info.json['info'] as Record<string, unknown>)['key_name']).toBe(`sk-...${alphaKey.slice(-4)}`);
    const listed = await api('/key/list');
    expect(listed.json['keys']).toContain(info.json['key']);
    expect(JSON.stringify(listed.json)).not.toContain(alphaKey);
    // A key may read about itself, but not about others, nor use the rest of the admin API.
    expect((await api('/key/info', undefined, { key: alphaKey })).status).toBe(200);
    expect((await api(`/key/info?key=${encodeURIComponent(betaKey)}`, undefined, { key: alphaKey })).status).toBe(403);
    expect((await api('/key/generate', {}, { key: alphaKey })).status).toBe(403);
    expect((await api('/team/new', {}, { key: alphaKey })).status).toBe(403);
    const team = await api(`/team/info?team_id=${teamId}`);
    expect(team.json).toMatchObject({ team_id: teamId, team_info: { team_alias: 'platform' } });
    expect((team.json['keys'] as { key_alias: string }[]).map((k) => k.key_alias)).toEqual(['alpha-app']);
  });

  it('refuses bad admin requests with what to fix', async () => {
    const unknownServer = await api('/key/generate', { object_permission: { mcp_servers: ['nope'] } });
    expect(unknownServer.status).toBe(400);
    expect(JSON.stringify(unknownServer.json)).toContain('nope');
    expect((await api('/key/generate', { team_id: 'no-such-team' })).status).toBe(400);
    expect((await api('/key/generate', { duration: 'forever' })).status).toBe(400);
    expect((await api('/key/generate', { object_permission: { mcp_access_groups: ['g1'] } })).status).toBe(400);
    expect((await api('/key/delete', { keys: ['sk-not-a-key'] })).status).toBe(404);
  });

  describe.each([
    ['no key', (): string | undefined => undefined, 401],
    ['a wrong key', (): string | undefined => 'sk-wrong-key-0123456789', 401],
    ['a revoked key', (): string | undefined => revokedKey, 401],
  ] as const)('%s', (_label, key, status) => {
    it('is refused on every surface', async () => {
      expect((await mcpCall(key(), 'alpha-echo')).status).toBe(status);
      expect((await fetch(`${base[0] ?? ''}/mcp/alpha`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...keyHeader(key()) }, body: '{}' })).status).toBe(status);
      expect((await fetch(`${base[1] ?? ''}/sse`, { headers: { Accept: 'text/event-stream', ...keyHeader(key()) } })).status).toBe(status);
      expect((await fetch(`${base[0] ?? ''}/mcp-rest/tools/list`, { headers: keyHeader(key()) })).status).toBe(status);
      expect((await fetch(`${base[1] ?? ''}/v1/mcp/server`, { headers: keyHeader(key()) })).status).toBe(status);
      const reply = await busCall(key(), 'alpha', 'alpha-echo');
      expect(reply.error?.code).toBe('unauthorized');
    });
  });

  it('accepts the key in each of the headers LiteLLM clients use', async () => {
    const forms: Record<string, string>[] = [{ Authorization: `Bearer ${alphaKey}` }, { 'x-litellm-api-key': `Bearer ${alphaKey}` }, { 'x-mcp-api-key': alphaKey }];
    for (const h of forms) {
      const response = responseOf(await legacyRpc(gateway.url, h, 'tools/call', { name: 'alpha-echo', arguments: { text: 'header' } }));
      expect(response.result === undefined ? response.error : textOf(response.result)).toBe('header');
    }
  });

  it('lists only what the key may use, on /mcp, /mcp/{server}, REST and the bus', async () => {
    expect(await mcpTools(alphaKey)).toEqual(['alpha-echo', 'alpha-whoami']);
    expect((await mcpTools(betaKey)).every((n) => n.startsWith('beta-'))).toBe(true);
    expect(await mcpTools(alphaKey, `${base[0] ?? ''}/mcp/alpha`)).toEqual(['echo', 'whoami']);
    const rest = (await (await fetch(`${base[1] ?? ''}/mcp-rest/tools/list`, { headers: keyHeader(alphaKey) })).json()) as { tools: { name: string }[] };
    expect(rest.tools.map((t) => t.name).sort()).toEqual(['alpha-echo', 'alpha-whoami']);
    const bus = await connectBusClient({ servers: NATS_URL, apiKey: alphaKey, subjectRoot: gateway.config.settings.subjectRoot });
    try {
      expect((await bus.listTools()).map((t) => t.name).sort()).toEqual(['alpha-echo', 'alpha-whoami']);
      expect(await bus.callTool('alpha-echo', { text: 'by bus' })).toEqual({ content: [{ type: 'text', text: 'by bus' }] });
    } finally {
      await bus.close();
    }
    const servers = (await api('/v1/mcp/server', undefined, { key: alphaKey })).json as unknown as { server_name: string }[];
    expect(servers.map((s) => s.server_name)).toEqual(['alpha']);
  });

  it('says "not permitted" for servers and tools outside the key, whether they exist or not', async () => {
    for (const name of ['beta-echo', 'alpha-add', 'alpha-no-such-tool', 'nosuchserver-echo']) {
      const outcome = await mcpCall(alphaKey, name, 1);
      expect(outcome.error, name).toMatchObject({ code: -32003 });
      expect(outcome.error?.message).toBe(`Tool ${name} is not permitted for this key`);
    }
    expect((await mcpCall(alphaKey, 'alpha-echo')).text).toBe('hi');
    // Per-server routes, x-mcp-servers, REST and the bus say the same.
    const single = await fetch(`${base[0] ?? ''}/mcp/beta`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...keyHeader(alphaKey) }, body: '{}' });
    expect(single.status).toBe(403);
    const ghost = await fetch(`${base[0] ?? ''}/mcp/ghost`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...keyHeader(alphaKey) }, body: '{}' });
    expect(ghost.status).toBe(403);
    expect((await fetch(`${base[0] ?? ''}/mcp-rest/tools/call`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...keyHeader(alphaKey) }, body: JSON.stringify({ name: 'beta-echo', arguments: {} }) })).status).toBe(403);
    expect((await busCall(alphaKey, 'beta', 'beta-echo')).error).toMatchObject({ code: 'not_permitted' });
    expect((await busCall(alphaKey, 'alpha', 'alpha-add')).error).toMatchObject({ code: 'not_permitted', message: 'Tool alpha-add is not permitted for this key' });
    expect((await busCall(betaKey, 'beta', 'beta-add')).ok).toBe(true);
  });

  it('works over legacy SSE with the key, filtered the same way', async () => {
    const client = new Client({ name: 'access-sse', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(`${base[1] ?? ''}/sse`), { fetch: withKey(alphaKey) }));
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['alpha-echo', 'alpha-whoami']);
      await expect(client.callTool({ name: 'beta-echo', arguments: { text: 'x' } })).rejects.toMatchObject({ code: -32003 });
      expect(textOf((await client.callTool({ name: 'alpha-echo', arguments: { text: 'sse' } })) as { content: { type: string; text: string }[] })).toBe('sse');
    } finally {
      await client.close();
    }
  });

  it("grants a key the intersection of its own access and its team's", async () => {
    const narrow = await api('/team/new', { team_id: 'beta-team', object_permission: { mcp_servers: ['beta'] } });
    expect(narrow.status).toBe(200);
    const inherits = await newKey({ team_id: 'beta-team' });
    const disjoint = await newKey({ team_id: 'beta-team', object_permission: { mcp_servers: ['alpha'] } });
    expect((await mcpTools(inherits)).every((n) => n.startsWith('beta-'))).toBe(true);
    expect(await mcpTools(disjoint)).toEqual([]);
    expect((await mcpCall(disjoint, 'alpha-echo')).error).toMatchObject({ code: -32003 });
    // Blocking the team stops its keys; unblocking brings them back.
    expect((await api('/team/block', { team_id: 'beta-team' })).status).toBe(200);
    expect((await mcpCall(inherits, 'beta-echo')).status).toBe(401);
    expect((await api('/team/unblock', { team_id: 'beta-team' })).status).toBe(200);
    expect((await mcpCall(inherits, 'beta-echo')).text).toBe('hi');
    // Deleting the team deletes its keys.
    expect((await api('/team/delete', { team_ids: ['beta-team'] })).status).toBe(200);
    expect((await mcpCall(inherits, 'beta-echo')).status).toBe(401);
  });

  it('applies an update to a key everywhere at once', async () => {
    const key = await newKey({ object_permission: { mcp_servers: ['alpha'] } });
    expect((await mcpCall(key, 'beta-echo', 1)).error).toMatchObject({ code: -32003 });
    expect((await api('/key/update', { key, object_permission: { mcp_servers: ['alpha', 'beta'] } })).status).toBe(200);
    expect((await mcpCall(key, 'beta-echo', 1)).text).toBe('hi');
    expect((await api('/key/block', { key })).status).toBe(200);
    expect((await mcpCall(key, 'beta-echo', 1)).status).toBe(401);
    const regenerated = await api('/key/unblock', { key });
    expect(regenerated.status).toBe(200);
    const fresh = await api('/key/regenerate', { key });
    expect(fresh.status).toBe(200);
    expect((await mcpCall(key, 'alpha-echo')).status).toBe(401);
    expect((await mcpCall(fresh.json['key'] as string, 'beta-echo', 1)).text).toBe('hi');
  });

  it('stops a deleted key on every replica and the bus within one second', async () => {
    const key = await newKey({});
    expect((await mcpCall(key, 'alpha-echo', 1)).text).toBe('hi');
    expect((await busCall(key, 'alpha', 'alpha-echo')).ok).toBe(true);
    const deleted = Date.now();
    expect((await api('/key/delete', { keys: [key] }, { replica: 0 })).status).toBe(200);
    // Requests go to either worker (a queue group): ten refusals in a row after the first one
    // show that both have stopped the key, not just the one that answered first.
    const stoppedAfter = async (probe: () => Promise<boolean>): Promise<number> => {
      while (!(await probe())) {
        if (Date.now() - deleted > 5_000) throw new Error('the deleted key still works');
        await new Promise((r) => setTimeout(r, 10));
      }
      const after = Date.now() - deleted;
      for (let i = 0; i < 10; i += 1) expect(await probe()).toBe(true);
      return after;
    };
    const replica = await stoppedAfter(async () => (await mcpCall(key, 'alpha-echo', 1)).status === 401);
    const onBus = await stoppedAfter(async () => (await busCall(key, 'alpha', 'alpha-echo')).error?.code === 'unauthorized');
    expect(replica).toBeLessThan(1_000);
    expect(onBus).toBeLessThan(1_000);
  });

  it('keeps resources, prompts and completions of other servers from the key, whether they exist or not', async () => {
    const rpc = async (method: string, params: Record<string, unknown>, key = alphaKey) => responseOf(await legacyRpc(gateway.urls[1] ?? '', keyHeader(key), method, params));
    const own = await rpc('resources/list', {});
    const uris = ((own.result?.['resources'] ?? []) as { uri: string }[]).map((r) => r.uri);
    expect(uris.length).toBeGreaterThan(0);
    expect(uris.every((u) => u.startsWith('mcpbus://alpha/'))).toBe(true);
    const prompts = ((await rpc('prompts/list', {})).result?.['prompts'] ?? []) as { name: string }[];
    expect(prompts.map((p) => p.name).every((n) => n.startsWith('alpha-'))).toBe(true);
    expect((await rpc('resources/read', { uri: 'mcpbus://alpha/fixture://static/readme' })).result).toBeDefined();
    for (const [method, params] of [
      ['resources/read', { uri: 'mcpbus://beta/fixture://static/readme' }],
      ['resources/read', { uri: 'mcpbus://ghost/fixture://static/readme' }],
      ['prompts/get', { name: 'beta-plain' }],
      ['completion/complete', { ref: { type: 'ref/prompt', name: 'beta-greeting' }, argument: { name: 'name', value: 'a' } }],
    ] as const) {
      expect((await rpc(method, params)).error, `${method} ${JSON.stringify(params)}`).toMatchObject({ code: -32003 });
    }
    // The bus's rpc subject says the same, with no ingress in between.
    const subjects = createSubjects(gateway.config.settings.subjectRoot);
    const reply = await busAsk(subjects.serverRpc('beta'), { v: 1, server: 'beta', method: 'prompts/get', params: { name: 'plain' }, byUpstreamName: true, deadlineAt: Date.now() + 5_000 }, alphaKey);
    expect(reply.error).toMatchObject({ code: 'not_permitted' });
  });

  it('narrows x-mcp-servers and REST server_id to the key', async () => {
    const listed = responseOf(await legacyRpc(gateway.url, { ...keyHeader(alphaKey), 'x-mcp-servers': 'beta' }, 'tools/list', {}));
    expect(listed.error).toBeDefined();
    const header = await fetch(gateway.url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'x-mcp-servers': 'alpha,beta', ...keyHeader(alphaKey) }, body: '{}' });
    expect(header.status).toBe(403);
    const rest = await fetch(`${base[0] ?? ''}/mcp-rest/tools/list?server_id=beta`, { headers: keyHeader(alphaKey) });
    expect(rest.status).toBe(403);
    expect(await rest.json()).toMatchObject({ detail: { error: 'not_permitted', tools: [] } });
    const restCall = await fetch(`${base[0] ?? ''}/mcp-rest/tools/call`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...keyHeader(alphaKey) }, body: JSON.stringify({ server_id: 'beta', name: 'echo', arguments: { text: 'x' } }) });
    expect(restCall.status).toBe(403);
  });

  it('holds durable submissions to the key', async () => {
    const bus = await connectBusClient({ servers: NATS_URL, apiKey: betaKey, subjectRoot: gateway.config.settings.subjectRoot });
    try {
      const allowed = await bus.submit('beta-echo', { text: 'durable' });
      expect(await allowed.result()).toEqual({ content: [{ type: 'text', text: 'durable' }] });
    } finally {
      await bus.close();
    }
    const subjects = createSubjects(gateway.config.settings.subjectRoot);
    const callId = newCallId();
    const ended = new Promise<Record<string, unknown>>((resolve) => {
      const sub = nc.subscribe(subjects.callEvents(callId), { callback: (_err, msg) => { const event = msg.json<Record<string, unknown>>(); if (event['type'] === 'result') { sub.unsubscribe(); resolve(event); } } });
    });
    await nc.flush();
    const h = headers();
    h.set(API_KEY_HEADER, betaKey);
    const js = (await import('@nats-io/jetstream')).jetstream(nc);
    await js.publish(subjects.submit('alpha'), JSON.stringify({ v: 1, callId, server: 'alpha', name: 'alpha-echo', arguments: { text: 'no' }, progress: false, deadlineAt: Date.now() + 60_000 }), { headers: h });
    expect(await ended).toMatchObject({ outcome: { ok: false, error: { code: 'not_permitted' } } });
  });

  it('applies a narrowed grant to a legacy SSE session opened before', async () => {
    const key = await newKey({ object_permission: { mcp_servers: ['alpha', 'beta'] } });
    const client = new Client({ name: 'narrowed', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(`${base[0] ?? ''}/sse`), { fetch: withKey(key) }));
    try {
      expect(textOf((await client.callTool({ name: 'beta-echo', arguments: { text: 'before' } })) as { content: { type: string; text: string }[] })).toBe('before');
      expect((await api('/key/update', { key, object_permission: { mcp_servers: ['alpha'] } })).status).toBe(200);
      await expect(client.callTool({ name: 'beta-echo', arguments: { text: 'after' } })).rejects.toMatchObject({ code: -32003 });
      expect((await client.listTools()).tools.every((t) => t.name.startsWith('alpha-'))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('runs no queued job of a key deleted while the job waited', async () => {
    const key = await newKey({});
    const subjects = createSubjects(gateway.config.settings.subjectRoot);
    const audits: Record<string, unknown>[] = [];
    const sub = nc.subscribe(subjects.auditCalls(), {
      callback: (_err, msg) => {
        audits.push(msg.json<Record<string, unknown>>());
      },
    });
    await nc.flush();
    try {
      // The master key's long job holds the only runner slot; the key's job waits behind it.
      const blocker = legacyRpc(gateway.url, keyHeader(MASTER_KEY), 'tools/call', { name: 'alpha-slow', arguments: { steps: 10, delayMs: 100 }, task: { ttl: 60_000 } });
      await new Promise((r) => setTimeout(r, 300));
      const queued = responseOf(await legacyRpc(gateway.url, keyHeader(key), 'tools/call', { name: 'alpha-echo', arguments: { text: 'late' }, task: { ttl: 60_000 } }));
      const taskId = ((queued.result?.['task'] ?? {}) as { taskId?: string }).taskId;
      expect(taskId).toBeDefined();
      expect((await api('/key/delete', { keys: [key] })).status).toBe(200);
      await blocker;
      // The job's own audit record says how it ended: refused, not run.
      const ended = (): Record<string, unknown> | undefined => audits.find((a) => a['callId'] === taskId && a['job'] === true && a['outcome'] !== 'queued');
      let record: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && (record = ended()) === undefined; i += 1) await new Promise((r) => setTimeout(r, 100));
      expect(record).toMatchObject({ outcome: 'error', errorCode: 'unauthorized' });
    } finally {
      sub.unsubscribe();
    }
  });

  it("enforces a key's own rate limit across replicas", async () => {
    const key = await newKey({ rpm_limit: 2 });
    expect((await mcpCall(key, 'alpha-echo', 0)).text).toBe('hi');
    expect((await mcpCall(key, 'alpha-echo', 1)).text).toBe('hi');
    const third = await mcpCall(key, 'alpha-echo', 0);
    expect(third.error).toMatchObject({ code: -32029 });
    expect(third.error?.message).toContain('2 tool calls per minute');
  });

  it('lets an expired key in nowhere', async () => {
    const key = await newKey({ duration: '1s' });
    expect((await mcpCall(key, 'alpha-echo')).text).toBe('hi');
    await new Promise((r) => setTimeout(r, 1_100));
    const refused = await fetch(gateway.url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...keyHeader(key) }, body: '{}' });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('expired');
  });
});
