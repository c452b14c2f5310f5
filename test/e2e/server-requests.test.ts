import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ElicitRequestSchema, CreateMessageRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { alternatingFetch, textOf, withKey } from '../harness/clients.js';
import { MASTER_KEY, fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { modernRpc, responseOf } from '../harness/raw-mcp.js';

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
    servers: { modern: { url: http.url }, legacy: fixtureStdio({ spec_version: '2025-11-25' }) },
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
  it.each(SERVERS)('relay elicitation, sampling and roots (%s upstream)', async (server) => {
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
