import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1HttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ElicitRequestSchema, CreateMessageRequestSchema, ListRootsRequestSchema, LoggingMessageNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { alternatingFetch, textOf, withKey } from '../harness/clients.js';
import { MASTER_KEY, fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { LEGACY_HEADERS, legacyRpc, modernRpc, responseOf } from '../harness/raw-mcp.js';
import { eventually } from '../harness/wait.js';

// Server-to-client requests through the gateway: an upstream asks the client that made the call
// for input (elicitation, sampling, roots) and gets the client's answer back. `modern` is the
// fixture over Streamable HTTP (2026-07-28: it returns input_required); `legacy` is the same
// fixture over stdio pinned to 2025-11-25 (the SDK pushes the requests on the session).

let http: FixtureHttpHandle;
let gateway: TestGateway;
const INPUT_TIMEOUT_MS = 3_000;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({
    servers: { modern: { url: http.url }, pinned: { url: http.url, spec_version: '2026-07-28' }, legacy: fixtureStdio({ spec_version: '2025-11-25' }) },
    ingresses: 2,
    workers: 2,
    settings: { input_timeout_ms: INPUT_TIMEOUT_MS },
  });
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

const SERVERS = ['modern', 'legacy'] as const;
// A 2025-era client's call is made in the 2025 era, as that client would make it: the fixture over
// HTTP serves that era statelessly (it cannot push), so 2025 clients use the same fixture pinned
// to 2026-07-28 (mcpbus turns its input_required rounds into pushes) and the stdio one.
const PUSH_SERVERS = ['pinned', 'legacy'] as const;

interface Asked {
  elicitations: string[];
  samplings: number;
  roots: number;
}

/** A 2026-07-28 SDK v2 client answering every kind of request; its requests alternate between the two ingresses. */
async function modernClient(asked: Asked, capabilities: Record<string, unknown> = { elicitation: { form: {} }, sampling: {}, roots: {} }): Promise<Client> {
  const client = new Client({ name: 'mrtr-test', version: '1.0.0' }, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  if (capabilities['elicitation'] !== undefined)
    client.setRequestHandler('elicitation/create', (req) => {
      asked.elicitations.push(String((req.params as { message?: string }).message));
      return Promise.resolve({ action: 'accept', content: { answer: `answer-${asked.elicitations.length}` } });
    });
  if (capabilities['sampling'] !== undefined)
    client.setRequestHandler('sampling/createMessage', () => {
      asked.samplings += 1;
      return Promise.resolve({ role: 'assistant', content: { type: 'text', text: 'sampled by the client' }, model: 'test-model' });
    });
  if (capabilities['roots'] !== undefined)
    client.setRequestHandler('roots/list', () => {
      asked.roots += 1;
      return Promise.resolve({ roots: [{ uri: 'file:///work/project', name: 'project' }] });
    });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { fetch: alternatingFetch(gateway.urls, []), requestInit: { headers: gateway.headers } }));
  expect(client.getProtocolEra()).toBe('modern');
  return client;
}

const fresh = (): Asked => ({ elicitations: [], samplings: 0, roots: 0 });
const text = (result: unknown): string => textOf(result as never);

describe('2026-07-28 clients (input_required rounds)', () => {
  it.each(SERVERS)('relay elicitation over two rounds, each retry landing on the other ingress (%s upstream)', async (server) => {
    const asked = fresh();
    const client = await modernClient(asked);
    try {
      const result = await client.callTool({ name: `${server}-ask`, arguments: { question: 'Colour?', rounds: 2 } });
      expect(asked.elicitations).toEqual(['Colour? (1/2)', 'Colour? (2/2)']);
      const { answers } = JSON.parse(text(result)) as { answers: Record<string, { action: string; content: { answer: string } }> };
      expect(Object.values(answers).map((a) => a.content.answer)).toEqual(['answer-1', 'answer-2']);
    } finally {
      await client.close();
    }
  });

  it.each(SERVERS)('relay sampling and roots (%s upstream)', async (server) => {
    const asked = fresh();
    const client = await modernClient(asked);
    try {
      const sampled = JSON.parse(text(await client.callTool({ name: `${server}-sample`, arguments: { prompt: 'hello' } }))) as { completion: { content: { text: string } } };
      expect(sampled.completion.content.text).toBe('sampled by the client');
      const roots = JSON.parse(text(await client.callTool({ name: `${server}-roots`, arguments: {} }))) as { roots: { uri: string }[] };
      expect(roots.roots).toEqual([{ uri: 'file:///work/project', name: 'project' }]);
      expect([asked.samplings, asked.roots]).toEqual([1, 1]);
    } finally {
      await client.close();
    }
  });

  it.each(SERVERS)('tell the upstream only the capabilities the client declared (%s upstream)', async (server) => {
    const asked = fresh();
    const client = await modernClient(asked, { elicitation: { form: {} } });
    try {
      // The upstream knows the client cannot sample: it never gets to ask.
      const outcome = await client.callTool({ name: `${server}-sample`, arguments: { prompt: 'hello' } }).then(
        (result) => ({ result }),
        (error: unknown) => ({ error: error as { code?: number; message: string } }),
      );
      expect(asked.samplings).toBe(0);
      if ('error' in outcome) expect(outcome.error.message).toMatch(/capabilit|sampling/i);
      else expect((outcome.result as { isError?: boolean }).isError).toBe(true);
    } finally {
      await client.close();
    }
  });

  it.each(SERVERS)('refuse a forged or altered requestState (%s upstream)', async (server) => {
    const capabilities = { elicitation: { form: {} } };
    const first = responseOf(await modernRpc(gateway.urls[0] as string, gateway.headers, 'tools/call', { name: `${server}-ask`, arguments: {} }, { name: `${server}-ask`, capabilities }));
    expect(first.result?.['resultType']).toBe('input_required');
    const state = first.result?.['requestState'] as string;
    const [key] = Object.keys(first.result?.['inputRequests'] as Record<string, unknown>);
    const answer = { [key as string]: { action: 'accept', content: { answer: 'x' } } };
    for (const forged of [`${state.slice(0, -4)}AAAA`, 'not-a-state', Buffer.from('{"k":"up","s":"modern","t":"ask","x":99999999999999}').toString('base64url')]) {
      const retry = responseOf(await modernRpc(gateway.urls[1] as string, gateway.headers, 'tools/call', { name: `${server}-ask`, arguments: {}, inputResponses: answer, requestState: forged }, { name: `${server}-ask`, capabilities }));
      expect(retry.error?.code).toBe(-32602);
      expect(retry.error?.message).toMatch(/requestState/);
    }
    // The real one still works, once.
    const done = responseOf(await modernRpc(gateway.urls[1] as string, gateway.headers, 'tools/call', { name: `${server}-ask`, arguments: {}, inputResponses: answer, requestState: state }, { name: `${server}-ask`, capabilities }));
    expect(JSON.stringify(done.result)).toContain('\\"answer\\":\\"x\\"');
  });

  it('fail the call of a client that never answers, and leave the upstream usable (legacy upstream, parked call)', async () => {
    const capabilities = { elicitation: { form: {} } };
    const first = responseOf(await modernRpc(gateway.urls[0] as string, gateway.headers, 'tools/call', { name: 'legacy-ask', arguments: {} }, { name: 'legacy-ask', capabilities }));
    const state = first.result?.['requestState'] as string;
    await new Promise((resolve) => setTimeout(resolve, INPUT_TIMEOUT_MS + 500));
    const late = responseOf(await modernRpc(gateway.urls[1] as string, gateway.headers, 'tools/call', { name: 'legacy-ask', arguments: {}, inputResponses: { elicitation1: { action: 'accept', content: { answer: 'late' } } }, requestState: state }, { name: 'legacy-ask', capabilities }));
    expect(late.error?.code).toBe(-32602);
    expect(late.error?.message).toMatch(/gone|Expired/);
    const echo = responseOf(await modernRpc(gateway.urls[1] as string, gateway.headers, 'tools/call', { name: 'legacy-echo', arguments: { text: 'still here' } }, { name: 'legacy-echo' }));
    expect(echo.result?.['content']).toEqual([{ type: 'text', text: 'still here' }]);
  });
});

/** A 1.x SDK client on a legacy SSE session (2024-11-05 transport) answering every kind of request. */
async function sseClient(asked: Asked, answer: 'always' | 'never' = 'always'): Promise<V1Client> {
  const client = new V1Client({ name: 'sse-push-test', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {}, roots: {} } });
  client.setRequestHandler(ElicitRequestSchema, (req) => {
    asked.elicitations.push(String(req.params.message));
    if (answer === 'never') return new Promise<never>(() => undefined);
    return Promise.resolve({ action: 'accept', content: { answer: `pushed-${asked.elicitations.length}` } });
  });
  client.setRequestHandler(CreateMessageRequestSchema, () => {
    asked.samplings += 1;
    return Promise.resolve({ role: 'assistant', content: { type: 'text', text: 'sampled on the session' }, model: 'test-model' });
  });
  client.setRequestHandler(ListRootsRequestSchema, () => {
    asked.roots += 1;
    return Promise.resolve({ roots: [{ uri: 'file:///session', name: 'session' }] });
  });
  await client.connect(new SSEClientTransport(new URL(gateway.url.replace(/\/mcp$/, '/sse')), { fetch: withKey(MASTER_KEY) }));
  return client;
}

describe('clients on a legacy SSE session (requests pushed on the session)', () => {
  it.each(PUSH_SERVERS)('relay elicitation, sampling and roots (%s upstream)', async (server) => {
    const asked = fresh();
    const client = await sseClient(asked);
    try {
      const asking = JSON.parse(text(await client.callTool({ name: `${server}-ask`, arguments: { question: 'Name?', rounds: 2 } }))) as { answers: Record<string, { content: { answer: string } }> };
      expect(Object.values(asking.answers).map((a) => a.content.answer)).toEqual(['pushed-1', 'pushed-2']);
      const sampled = JSON.parse(text(await client.callTool({ name: `${server}-sample`, arguments: { prompt: 'hi' } }))) as { completion: { content: { text: string } } };
      expect(sampled.completion.content.text).toBe('sampled on the session');
      const roots = JSON.parse(text(await client.callTool({ name: `${server}-roots`, arguments: {} }))) as { roots: { uri: string }[] };
      expect(roots.roots[0]?.uri).toBe('file:///session');
    } finally {
      await client.close();
    }
  });

  it('fail the call of a client that never answers within the deadline, and go on serving', async () => {
    const asked = fresh();
    const client = await sseClient(asked, 'never');
    try {
      const outcome = await client.callTool({ name: 'legacy-ask', arguments: {} }, undefined, { timeout: 30_000 }).then(
        (result) => ({ result }),
        (error: unknown) => ({ error: error as Error }),
      );
      expect(asked.elicitations).toHaveLength(1);
      expect('error' in outcome ? outcome.error.message : text(outcome.result)).toMatch(/did not answer|timed out|deadline/i);
      expect(text(await client.callTool({ name: 'legacy-echo', arguments: { text: 'after' } }))).toBe('after');
    } finally {
      await client.close();
    }
  });
});

/** A 2025-era client on Streamable HTTP (SDK v2 in the legacy era, or 1.x), its requests alternating between the ingresses. */
async function sessionClient(kind: 'v2-legacy' | 'v1', asked: Asked, answer: 'always' | 'never' = 'always'): Promise<{ callTool(name: string, args: Record<string, unknown>): Promise<unknown>; client: Client | V1Client; close(): Promise<void> }> {
  const capabilities = { elicitation: {}, sampling: {}, roots: {} };
  const elicit = (message: string) => {
    asked.elicitations.push(message);
    if (answer === 'never') return new Promise<never>(() => undefined);
    return Promise.resolve({ action: 'accept' as const, content: { answer: `session-${asked.elicitations.length}` } });
  };
  const sample = () => {
    asked.samplings += 1;
    return Promise.resolve({ role: 'assistant' as const, content: { type: 'text' as const, text: 'sampled in the session' }, model: 'test-model' });
  };
  const roots = () => {
    asked.roots += 1;
    return Promise.resolve({ roots: [{ uri: 'file:///session-root', name: 'root' }] });
  };
  const fetchImpl = alternatingFetch(gateway.urls, []);
  if (kind === 'v1') {
    const client = new V1Client({ name: 'v1-session-test', version: '1.0.0' }, { capabilities });
    client.setRequestHandler(ElicitRequestSchema, (req) => elicit(String(req.params.message)));
    client.setRequestHandler(CreateMessageRequestSchema, sample);
    client.setRequestHandler(ListRootsRequestSchema, roots);
    await client.connect(new V1HttpTransport(new URL(gateway.url), { fetch: fetchImpl, requestInit: { headers: gateway.headers } }));
    return { client, callTool: (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: 30_000 }), close: () => client.close() };
  }
  const client = new Client({ name: 'v2-session-test', version: '1.0.0' }, { capabilities });
  client.setRequestHandler('elicitation/create', (req) => elicit(String((req.params as { message?: string }).message)));
  client.setRequestHandler('sampling/createMessage', sample);
  client.setRequestHandler('roots/list', roots);
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { fetch: fetchImpl, requestInit: { headers: gateway.headers } }));
  expect(client.getProtocolEra()).toBe('legacy');
  return { client, callTool: (name, args) => client.callTool({ name, arguments: args }, { timeout: 30_000 }), close: () => client.close() };
}

describe('2025-era clients on Streamable HTTP (sessions; requests on the call\'s stream, answers to any replica)', () => {
  it.each([
    ['v2-legacy', 'pinned'],
    ['v2-legacy', 'legacy'],
    ['v1', 'pinned'],
    ['v1', 'legacy'],
  ] as const)('%s client: elicitation over two rounds, sampling and roots (%s upstream)', async (kind, server) => {
    const asked = fresh();
    const session = await sessionClient(kind, asked);
    try {
      const asking = JSON.parse(text(await session.callTool(`${server}-ask`, { question: 'City?', rounds: 2 }))) as { answers: Record<string, { content: { answer: string } }> };
      expect(asked.elicitations).toEqual(['City? (1/2)', 'City? (2/2)']);
      expect(Object.values(asking.answers).map((a) => a.content.answer)).toEqual(['session-1', 'session-2']);
      const sampled = JSON.parse(text(await session.callTool(`${server}-sample`, { prompt: 'hi' }))) as { completion: { content: { text: string } } };
      expect(sampled.completion.content.text).toBe('sampled in the session');
      const roots = JSON.parse(text(await session.callTool(`${server}-roots`, {}))) as { roots: { uri: string }[] };
      expect(roots.roots[0]?.uri).toBe('file:///session-root');
    } finally {
      await session.close();
    }
  });

  it('fail the call of a client that never answers, and go on serving the session', async () => {
    const asked = fresh();
    const session = await sessionClient('v2-legacy', asked, 'never');
    try {
      const outcome = await session.callTool('pinned-ask', {}).then(
        (result) => ({ result }),
        (error: unknown) => ({ error: error as Error }),
      );
      expect(asked.elicitations).toHaveLength(1);
      expect('error' in outcome ? outcome.error.message : text(outcome.result)).toMatch(/did not answer/);
      expect(text(await session.callTool('pinned-echo', { text: 'after' }))).toBe('after');
    } finally {
      await session.close();
    }
  });

  it('meet an upstream that cannot ask a 2025 client (stateless 2025 leg) as that client would directly', async () => {
    const asked = fresh();
    const session = await sessionClient('v2-legacy', asked);
    try {
      const result = (await session.callTool('modern-ask', {})) as { isError?: boolean };
      expect(asked.elicitations).toHaveLength(0);
      expect(result.isError).toBe(true);
    } finally {
      await session.close();
    }
  });

  it('answer an unknown or deleted session with 404, on every replica', async () => {
    const init = await fetch(gateway.urls[0] as string, {
      method: 'POST',
      headers: { ...gateway.headers, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    const sessionId = init.headers.get('mcp-session-id') as string;
    await init.text();
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const list = (url: string, id: string) => fetch(url, { method: 'POST', headers: { ...gateway.headers, ...LEGACY_HEADERS, 'Mcp-Session-Id': id }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }) });
    expect((await list(gateway.urls[1] as string, sessionId)).status).toBe(200);
    expect((await list(gateway.urls[1] as string, '00000000-0000-0000-0000-000000000000')).status).toBe(404);
    const ended = await fetch(gateway.urls[1] as string, { method: 'DELETE', headers: { ...gateway.headers, 'MCP-Protocol-Version': '2025-11-25', 'Mcp-Session-Id': sessionId } });
    expect(ended.status).toBe(200);
    // The other replica trusts what it read of the session for a few seconds at most.
    await eventually(async () => expect((await list(gateway.urls[0] as string, sessionId)).status).toBe(404), { timeoutMs: 10_000 });
  });

  it('deliver list changes on the session\'s GET stream, whichever replica holds it', async () => {
    const client = new V1Client({ name: 'v1-listen', version: '1.0.0' });
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changes += 1;
      return Promise.resolve();
    });
    await client.connect(new V1HttpTransport(new URL(gateway.urls[0] as string), { requestInit: { headers: gateway.headers } }));
    try {
      // The tool list changes through the other replica: the stdio upstream adds a tool. (A
      // stateless call: one from a client that answers input would run on a session of its own.)
      await new Promise((resolve) => setTimeout(resolve, 300));
      const grown = responseOf(await legacyRpc(gateway.urls[1] as string, gateway.headers, 'tools/call', { name: 'legacy-grow', arguments: { name: `grown_${Date.now() % 100_000}` } }));
      expect(grown.result).toBeDefined();
      await eventually(() => Promise.resolve(expect(changes).toBeGreaterThan(0)), { timeoutMs: 10_000 });
    } finally {
      await client.close();
    }
  });
});

describe('logging/setLevel and notifications/message, per caller', () => {
  /** A 1.x client without input capabilities, collecting the log messages it gets. */
  async function loggingClient(transport: 'session' | 'sse'): Promise<{ client: V1Client; levels: string[] }> {
    const client = new V1Client({ name: `logging-${transport}`, version: '1.0.0' });
    const levels: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      levels.push(n.params.level);
      return Promise.resolve();
    });
    await client.connect(
      transport === 'sse'
        ? new SSEClientTransport(new URL(gateway.url.replace(/\/mcp$/, '/sse')), { fetch: withKey(MASTER_KEY) })
        : new V1HttpTransport(new URL(gateway.url), { fetch: alternatingFetch(gateway.urls, []), requestInit: { headers: gateway.headers } }),
    );
    return { client, levels };
  }
  const ALL = ['debug', 'info', 'warning', 'error'];

  // `pinned` is a 2026 upstream: a 2025 client's level goes to it in each request's _meta.
  it.each([
    ['session', 'legacy'],
    ['sse', 'legacy'],
    ['session', 'pinned'],
  ] as const)('the level a %s client set reaches the upstream (%s), and only its calls get the messages', async (transport, server) => {
    const chatty = await loggingClient(transport);
    const quiet = await loggingClient(transport);
    try {
      await chatty.client.setLoggingLevel('warning');
      const told = text(await chatty.client.callTool({ name: `${server}-log`, arguments: { levels: ALL } }));
      expect(told).toBe('log level: warning');
      await eventually(() => Promise.resolve(expect(chatty.levels).toEqual(['warning', 'error'])), { timeoutMs: 5_000 });
      // A caller that set no level gets no messages, and its upstream session was told none.
      expect(text(await quiet.client.callTool({ name: `${server}-log`, arguments: { levels: ALL } }))).toBe('log level: unset');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(quiet.levels).toEqual([]);
      expect(chatty.levels).toEqual(['warning', 'error']);
    } finally {
      await chatty.client.close();
      await quiet.client.close();
    }
  });
  // 2026-07-28 has no logging/setLevel: a request names its level in _meta and gets the log
  // messages on its own response stream. `modern` is a 2026 upstream (the level goes in its
  // request's _meta), `legacy` a 2025 one (a session of the call's own is set to the level).
  const LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
  const logsOf = (messages: Record<string, unknown>[]): string[] => messages.filter((m) => m['method'] === 'notifications/message').map((m) => (m['params'] as { level: string }).level);
  const logCall = (url: string, server: string, level: string | undefined, options: { capabilities?: Record<string, unknown>; delayMs?: number } = {}) =>
    modernRpc(url, gateway.headers, 'tools/call', { name: `${server}-log`, arguments: { levels: ALL, ...(options.delayMs === undefined ? {} : { delayMs: options.delayMs }) }, ...(level === undefined ? {} : { _meta: { [LOG_LEVEL]: level } }) }, { name: `${server}-log`, ...(options.capabilities === undefined ? {} : { capabilities: options.capabilities }) });

  it.each(SERVERS)('a 2026 SDK client that names a level in _meta gets exactly the messages at or above it (%s upstream)', async (server) => {
    const client = new Client({ name: 'logging-2026', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const got: { level: string; logger?: string; data?: unknown }[] = [];
    client.setNotificationHandler('notifications/message', (n) => {
      got.push(n.params);
      return Promise.resolve();
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { fetch: alternatingFetch(gateway.urls, []), requestInit: { headers: gateway.headers } }));
    try {
      expect(client.getProtocolEra()).toBe('modern');
      const told = text(await client.callTool({ name: `${server}-log`, arguments: { levels: ALL }, _meta: { [LOG_LEVEL]: 'warning' } }));
      expect(told).toBe('log level: warning');
      expect(got).toEqual([
        { level: 'warning', logger: 'fixture', data: 'a warning message' },
        { level: 'error', logger: 'fixture', data: 'a error message' },
      ]);
      // The next request names no level: it gets nothing (and the upstream was told none).
      expect(text(await client.callTool({ name: `${server}-log`, arguments: { levels: ALL } }))).toBe('log level: unset');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(got).toHaveLength(2);
    } finally {
      await client.close();
    }
  });

  it.each(SERVERS)('a raw 2026 request gets its messages on its own response stream, before the result, and one without a level none (%s upstream)', async (server) => {
    const messages = await logCall(gateway.urls[0] as string, server, 'info');
    expect(logsOf(messages)).toEqual(['info', 'warning', 'error']);
    // Every log message comes ahead of the result, on the request's stream.
    expect(messages.findIndex((m) => 'result' in m)).toBe(messages.length - 1);
    expect(text(responseOf(messages).result)).toBe('log level: info');

    const silent = await logCall(gateway.urls[1] as string, server, undefined);
    expect(logsOf(silent)).toEqual([]);
    expect(text(responseOf(silent).result)).toBe('log level: unset');
  });

  it('a 2026 client that can answer input gets the messages of a call parked on a 2025 upstream until it is asked', async () => {
    const messages = await logCall(gateway.urls[0] as string, 'legacy', 'error', { capabilities: { elicitation: { form: {} } } });
    expect(logsOf(messages)).toEqual(['error']);
    expect(text(responseOf(messages).result)).toBe('log level: error');
  });

  it.each(SERVERS)('concurrent 2026 callers with different levels each get only their own messages (%s upstream)', async (server) => {
    // The same key for all of them: sessions of their own are per call, not per key. The
    // messages are spread out so the calls overlap on the upstream.
    const [debug, errors, none] = await Promise.all([
      logCall(gateway.urls[0] as string, server, 'debug', { delayMs: 40 }),
      logCall(gateway.urls[1] as string, server, 'error', { delayMs: 40 }),
      logCall(gateway.urls[0] as string, server, undefined, { delayMs: 40 }),
    ]);
    expect(logsOf(debug)).toEqual(['debug', 'info', 'warning', 'error']);
    expect(logsOf(errors)).toEqual(['error']);
    expect(logsOf(none)).toEqual([]);
    expect([debug, errors, none].map((m) => text(responseOf(m).result))).toEqual(['log level: debug', 'log level: error', 'log level: unset']);
  });
});
