import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { modernRpc, progressOf, responseOf } from '../harness/raw-mcp.js';

// Parked calls: a 2026-07-28 client calls a tool of a 2025-era upstream (the fixture over stdio,
// pinned to 2025-11-25) that asks for input. The upstream call waits in one worker on the request
// it pushed; each retry of the client, with its answers and the requestState it was given, reaches
// that call over NATS from whichever ingress and worker it lands on.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway({
    servers: { legacy: fixtureStdio({ spec_version: '2025-11-25' }) },
    ingresses: 2,
    workers: 2,
    settings: { input_timeout_ms: 10_000 },
  });
});

afterAll(async () => {
  await gateway?.close();
});

const capabilities = { elicitation: { form: {} } };
const accept = (content: Record<string, unknown>) => ({ action: 'accept', content });

/** The first request of a call; its input_required round's requestState and request keys. */
async function firstRound(url: string, name: string, args: Record<string, unknown>, meta: Record<string, unknown> = {}) {
  const messages = await modernRpc(url, gateway.headers, 'tools/call', { name, arguments: args, _meta: meta }, { name, capabilities });
  const result = responseOf(messages).result;
  expect(result?.['resultType']).toBe('input_required');
  return { messages, state: result?.['requestState'] as string, keys: Object.keys(result?.['inputRequests'] as Record<string, unknown>) };
}

describe('parked calls', () => {
  it("relay the upstream's progress in every round, to the request waiting on the call", async () => {
    const name = 'legacy-ask_then_work';
    const args = { steps: 3, delayMs: 20 };
    const first = await firstRound(gateway.urls[0] as string, name, args, { progressToken: 'first-request' });
    expect(progressOf(first.messages)).toEqual([{ progressToken: 'first-request', progress: 0, total: 3, message: 'asking for a go-ahead' }]);
    // The retry is a request of its own, on the other ingress, with a token of its own: the
    // progress the upstream reports after the answer is this request's.
    const retry = await modernRpc(gateway.urls[1] as string, gateway.headers, 'tools/call', { name, arguments: args, inputResponses: { [first.keys[0] as string]: accept({ ok: true }) }, requestState: first.state, _meta: { progressToken: 'retry' } }, { name, capabilities });
    expect(responseOf(retry).result?.['content']).toEqual([{ type: 'text', text: 'done after 3 steps' }]);
    expect(progressOf(retry)).toEqual([1, 2, 3].map((step) => ({ progressToken: 'retry', progress: step, total: 3, message: `step ${step}/3` })));
  });
});
