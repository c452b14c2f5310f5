import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport, UrlElicitationRequiredError } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOf } from '../harness/clients.js';
import { MASTER_KEY, fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { FIXTURE_MAIN } from '../harness/paths.js';
import { legacyRpc, modernRpc, responseOf } from '../harness/raw-mcp.js';

// URL-mode elicitation: the fixture over stdio, pinned to 2025-11-25, refuses `link_required`
// with -32042 (URLElicitationRequiredError) until the account is linked (counter
// `linked_<account>`, which `touch` bumps as the page at the URL would). A 2025 client gets that
// error as it is; a 2026-07-28 client, which cannot, gets an input_required round of URL-mode
// elicitation requests, and its retry makes the call again once the user is done.

let stateDir: string;
let gateway: TestGateway;

beforeAll(async () => {
  // The fixture's counters live here, shared by every stdio child (pooled, and one per interactive call) and this test.
  stateDir = mkdtempSync(join(tmpdir(), 'mcpbus-url-'));
  gateway = await startGateway({
    servers: { legacy: fixtureStdio({ args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio', '--state-dir', stateDir], spec_version: '2025-11-25' }) },
    ingresses: 2,
    workers: 2,
    settings: { input_timeout_ms: 10_000 },
  });
});

afterAll(async () => {
  await gateway?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const TOOL = 'legacy-link_required';
const URL_CAPABLE = { elicitation: { url: {} } };
/** A fresh account per test: nothing is linked yet. */
let accounts = 0;
const newAccount = (): string => `acct${Date.now() % 100_000}_${(accounts += 1)}`;
/** How many times the tool ran for `account` (the fixture's counter `<account>_runs`). */
const runs = (account: string): number => {
  try {
    return Number(readFileSync(join(stateDir, `${account}_runs`), 'utf8'));
  } catch {
    return 0;
  }
};
/** What the page at the URL does when the user is done there: the upstream now sees the account linked. */
async function link(account: string): Promise<void> {
  const touched = responseOf(await legacyRpc(gateway.urls[0] as string, gateway.headers, 'tools/call', { name: 'legacy-touch', arguments: { name: `linked_${account}` } }));
  expect(touched.result?.['isError']).toBeUndefined();
}
/** The elicitation the fixture puts in its -32042 for `account`. */
const upstreamElicitation = (account: string) => ({ mode: 'url', url: `https://fixture.example/link?account=${account}`, message: `Link your ${account} account to go on`, elicitationId: `link-${account}` });

/** The URL-mode request a 2026 client gets for it (2026-07-28 dropped elicitationId). */
const urlRequest = (account: string) => {
  const { elicitationId: _dropped, ...request } = upstreamElicitation(account);
  return request;
};

/** A fetch sending the n-th `tools/call` to ingress n mod 2 (so a retry lands on the other replica), and noting where each went. */
function alternatingCalls(calls: { ingress: string; retry: boolean }[]): typeof fetch {
  return (input, init) => {
    const original = new URL(input instanceof Request ? input.url : String(input));
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string; params?: Record<string, unknown> }) : undefined;
    if (body?.method !== 'tools/call') return fetch(original, init);
    const target = new URL(gateway.urls[calls.length % 2] as string);
    calls.push({ ingress: target.origin, retry: body.params?.['requestState'] !== undefined });
    return fetch(new URL(`${original.pathname}${original.search}`, target.origin), init);
  };
}

/** An SDK v2 client pinned to 2026-07-28; `answer` handles each URL-mode elicitation. */
async function modernClient(capabilities: Record<string, unknown>, answer: (params: Record<string, unknown>) => Promise<{ action: 'accept' | 'decline' | 'cancel' }>, calls: { ingress: string; retry: boolean }[] = []): Promise<Client> {
  const client = new Client({ name: 'url-elicitation-test', version: '1.0.0' }, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  if (capabilities['elicitation'] !== undefined) client.setRequestHandler('elicitation/create', (req) => answer(req.params as Record<string, unknown>));
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { fetch: alternatingCalls(calls), requestInit: { headers: gateway.headers } }));
  expect(client.getProtocolEra()).toBe('modern');
  return client;
}

describe('2026-07-28 clients', () => {
  it('get an input_required round of URL elicitations, and the result once the user is done at the URL, the retry on the other ingress', async () => {
    const account = newAccount();
    const asked: Record<string, unknown>[] = [];
    const calls: { ingress: string; retry: boolean }[] = [];
    const client = await modernClient(
      URL_CAPABLE,
      async (params) => {
        asked.push(params);
        // The tool has not run: the upstream refused the call.
        expect(runs(account)).toBe(0);
        await link(account);
        return { action: 'accept' };
      },
      calls,
    );
    try {
      const result = await client.callTool({ name: TOOL, arguments: { account } });
      expect(textOf(result as never)).toBe(`ran with the ${account} account (run 1)`);
      // 2026-07-28 has no elicitationId: the rest is the upstream's.
      expect(asked).toEqual([urlRequest(account)]);
      expect(calls).toEqual([
        { ingress: new URL(gateway.urls[0] as string).origin, retry: false },
        { ingress: new URL(gateway.urls[1] as string).origin, retry: true },
      ]);
      expect(runs(account)).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('are asked again when the user accepted but is not done at the URL yet', async () => {
    const account = newAccount();
    let asked = 0;
    const client = await modernClient(URL_CAPABLE, async () => {
      asked += 1;
      // Done only on the second visit.
      if (asked === 2) await link(account);
      return { action: 'accept' };
    });
    try {
      const result = await client.callTool({ name: TOOL, arguments: { account } });
      expect(textOf(result as never)).toBe(`ran with the ${account} account (run 1)`);
      expect(asked).toBe(2);
    } finally {
      await client.close();
    }
  });

  it.each(['decline', 'cancel'] as const)('get the upstream\'s message as a tool error when the user answers %s, and the tool is not called again', async (action) => {
    const account = newAccount();
    let asked = 0;
    const client = await modernClient(URL_CAPABLE, () => {
      asked += 1;
      return Promise.resolve({ action });
    });
    try {
      const result = (await client.callTool({ name: TOOL, arguments: { account } })) as { isError?: boolean };
      expect(result.isError).toBe(true);
      expect(textOf(result as never)).toBe(`The ${account} account is not linked yet\n(Tool ${TOOL} did not run: the user ${action === 'decline' ? 'declined to open' : 'cancelled rather than open'} the URL upstream server "legacy" asked for.)`);
      expect(asked).toBe(1);
      expect(runs(account)).toBe(0);
    } finally {
      await client.close();
    }
  });

  it.each([
    ['form elicitation only', { elicitation: { form: {} } }],
    ['no input capability', {}],
  ])('without URL elicitation (%s) get -32021 naming it', async (_what, capabilities) => {
    const account = newAccount();
    const client = await modernClient(capabilities, () => Promise.resolve({ action: 'accept' }));
    try {
      const error = (await client.callTool({ name: TOOL, arguments: { account } }).then(
        () => undefined,
        (err: unknown) => err,
      )) as { code?: number; message?: string; data?: Record<string, unknown> } | undefined;
      expect(error?.code).toBe(-32021);
      expect(error?.message).toContain(`Tool ${TOOL} needs the user to open a URL first (upstream server "legacy": The ${account} account is not linked yet)`);
      expect(error?.message).toContain('capabilities.elicitation.url');
      expect(error?.data?.['requiredCapabilities']).toEqual({ elicitation: { url: {} } });
    } finally {
      await client.close();
    }
  });

  it('have a forged, altered or other key\'s requestState refused, with nothing sent upstream', async () => {
    const account = newAccount();
    const first = responseOf(await modernRpc(gateway.urls[0] as string, gateway.headers, 'tools/call', { name: TOOL, arguments: { account } }, { name: TOOL, capabilities: URL_CAPABLE }));
    expect(first.result?.['resultType']).toBe('input_required');
    expect(first.result?.['inputRequests']).toEqual({ url1: { method: 'elicitation/create', params: urlRequest(account) } });
    const state = first.result?.['requestState'] as string;
    // Linked now: a retry wrongly let through would run the tool.
    await link(account);
    const retry = async (requestState: string, headers = gateway.headers, inputResponses: Record<string, unknown> = { url1: { action: 'accept' } }) =>
      responseOf(await modernRpc(gateway.urls[1] as string, headers, 'tools/call', { name: TOOL, arguments: { account }, inputResponses, requestState }, { name: TOOL, capabilities: URL_CAPABLE }));

    const forged = Buffer.from(JSON.stringify({ k: 'url', s: 'legacy', t: 'link_required', q: ['url1'], m: 'x', x: 99_999_999_999_999 })).toString('base64url');
    for (const bad of [`${state.slice(0, -4)}AAAA`, 'not-a-state', forged]) {
      const refused = await retry(bad);
      expect(refused.error?.code).toBe(-32602);
      expect(refused.error?.message).toMatch(/^Invalid requestState/);
    }
    const made = await fetch(new URL('/key/generate', gateway.urls[0]), { method: 'POST', headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json' }, body: '{}' });
    const { key } = (await made.json()) as { key: string };
    const stolen = await retry(state, { Authorization: `Bearer ${key}` });
    expect(stolen.error?.code).toBe(-32602);
    expect(stolen.error?.message).toMatch(/^Invalid requestState: it was not issued by this gateway for this key/);
    // An answer that is not an elicitation result is refused too.
    const unanswered = await retry(state, gateway.headers, {});
    expect(unanswered.error?.code).toBe(-32602);
    expect(unanswered.error?.message).toBe('inputResponses.url1 must answer the URL elicitation of the same key with action "accept", "decline" or "cancel"');
    expect(runs(account)).toBe(0);

    // The caller's own state makes the call.
    const done = await retry(state);
    expect(textOf(done.result as never)).toBe(`ran with the ${account} account (run 1)`);
  });
});

describe('2025-era clients', () => {
  it('get -32042 with the upstream\'s data as it was (a plain call, no session)', async () => {
    const account = newAccount();
    const answer = responseOf(await legacyRpc(gateway.urls[1] as string, gateway.headers, 'tools/call', { name: TOOL, arguments: { account } })) as { error?: { code: number; message: string; data?: Record<string, unknown> } };
    expect(answer.error?.code).toBe(-32042);
    expect(answer.error?.message).toBe(`upstream server "legacy" returned an error: The ${account} account is not linked yet`);
    // mcpbus names the server next to the upstream's own data.
    expect(answer.error?.data).toEqual({ server: 'legacy', elicitations: [upstreamElicitation(account)] });
  });

  it('get -32042 on a session that declared URL elicitation, as an SDK client reads it', async () => {
    const account = newAccount();
    const client = new Client({ name: 'url-elicitation-legacy', version: '1.0.0' }, { capabilities: URL_CAPABLE });
    client.setRequestHandler('elicitation/create', () => Promise.resolve({ action: 'accept' }));
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.urls[0] as string), { requestInit: { headers: gateway.headers } }));
    try {
      expect(client.getProtocolEra()).toBe('legacy');
      const error = await client.callTool({ name: TOOL, arguments: { account } }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(UrlElicitationRequiredError);
      expect((error as UrlElicitationRequiredError).elicitations).toEqual([upstreamElicitation(account)]);
      expect(runs(account)).toBe(0);
    } finally {
      await client.close();
    }
  });
});
