import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { legacyRpc, progressOf, responseOf } from '../harness/raw-mcp.js';

let http: FixtureHttpHandle;
let gateway: TestGateway;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({
    servers: { jobs: { url: http.url, execution: 'job' }, web: { url: http.url } },
    runners: 1,
  });
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

describe('calls run as jobs', () => {
  it('relays every progress notification in order, then the result (2025 SSE)', async () => {
    const messages = await legacyRpc(gateway.url, gateway.headers, 'tools/call', { name: 'jobs-slow', arguments: { steps: 5, delayMs: 0 }, _meta: { progressToken: 'p1' } });
    expect(progressOf(messages).map((p) => p.progress)).toEqual([1, 2, 3, 4, 5]);
    expect(responseOf(messages).result?.['content']).toEqual([{ type: 'text', text: 'done after 5 steps' }]);
  });
});
