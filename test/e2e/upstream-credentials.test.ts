import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { textOf } from '../harness/clients.js';
import { MASTER_KEY, fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

let http: FixtureHttpHandle;
let gateway: TestGateway;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({
    servers: {
      // `web` takes x-mcp-auth; `other` (the same upstream) does not; `jobs` runs calls as jobs.
      web: { url: http.url, accept_client_auth: true, headers: { 'X-Static': 'from-config' } },
      other: { url: http.url },
      jobs: { url: http.url, execution: 'job', accept_client_auth: true },
      fx: fixtureStdio(),
    },
    runners: 1,
  });
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

/** What the upstream saw on the request that carried the call (its `whoami` tool). */
async function seenBy(tool: string, headers: Record<string, string>): Promise<Record<string, string>> {
  const response = responseOf(await legacyRpc(gateway.url, { ...gateway.headers, ...headers }, 'tools/call', { name: tool, arguments: {} }));
  if (response.result === undefined) throw new Error(JSON.stringify(response.error));
  return JSON.parse(textOf(response.result)) as Record<string, string>;
}

describe('client-supplied upstream credentials', () => {
  it('forwards x-mcp-{server}-{header} to that server only, and x-mcp-auth only where accepted', async () => {
    const headers = { 'x-mcp-web-authorization': 'Bearer web-token', 'x-mcp-web-x-tenant': 'acme', 'x-mcp-other-x-team': 'blue' };
    const web = await seenBy('web-whoami', headers);
    expect(web).toMatchObject({ authorization: 'Bearer web-token', 'x-tenant': 'acme', 'x-static': 'from-config' });
    expect(web['x-team']).toBeUndefined();
    const other = await seenBy('other-whoami', headers);
    expect(other).toMatchObject({ 'x-team': 'blue' });
    expect(other['authorization']).toBeUndefined();
    expect(other['x-tenant']).toBeUndefined();

    expect((await seenBy('web-whoami', { 'x-mcp-auth': 'Bearer from-x-mcp-auth' }))['authorization']).toBe('Bearer from-x-mcp-auth');
    expect((await seenBy('other-whoami', { 'x-mcp-auth': 'Bearer from-x-mcp-auth' }))['authorization']).toBeUndefined();
  });

  it("never forwards mcpbus's own key", async () => {
    const web = await seenBy('web-whoami', { 'x-mcp-web-authorization': `Bearer ${MASTER_KEY}`, 'x-litellm-api-key': `Bearer ${MASTER_KEY}` });
    expect(JSON.stringify(web)).not.toContain(MASTER_KEY);
  });

  it('gives 100 concurrent callers with different credentials their own upstream requests, with no leaks', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const seen = await seenBy(i % 2 === 0 ? 'web-whoami' : 'jobs-whoami', { [`x-mcp-${i % 2 === 0 ? 'web' : 'jobs'}-authorization`]: `Bearer caller-${i}`, 'x-mcp-auth': `Bearer caller-${i}` });
        return { i, seen };
      }),
    );
    const leaks = results.filter(({ i, seen }) => seen['authorization'] !== `Bearer caller-${i}`);
    expect(leaks).toEqual([]);
  });

  it('refuses credentials for a stdio server, which cannot take them', async () => {
    const response = responseOf(await legacyRpc(gateway.url, { ...gateway.headers, 'x-mcp-fx-authorization': 'Bearer x' }, 'tools/call', { name: 'fx-echo', arguments: { text: 'x' } }));
    expect(response.error?.code).toBe(-32602);
    expect(response.error?.message).toContain('cannot take per-request credentials');
  });
});
