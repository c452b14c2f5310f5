import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdio, startGateway, type TestGateway } from '../harness/gateway.js';
import { FIXTURE_MAIN } from '../harness/paths.js';
import { legacyRpc, modernRpc, modernRpcStream, progressOf, responseOf } from '../harness/raw-mcp.js';
import { eventually } from '../harness/wait.js';

// Parked calls: a 2026-07-28 client calls a tool of a 2025-era upstream (the fixture over stdio,
// pinned to 2025-11-25) that asks for input. The upstream call waits in one worker on the request
// it pushed; each retry of the client, with its answers and the requestState it was given, reaches
// that call over NATS from whichever ingress and worker it lands on.

let stateDir: string;
let gateway: TestGateway;

beforeAll(async () => {
  // The fixture's counters live here, where every stdio child (each parked call has one) and this test see them.
  stateDir = mkdtempSync(join(tmpdir(), 'mcpbus-parked-'));
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

const capabilities = { elicitation: { form: {} } };
const accept = (content: Record<string, unknown>) => ({ action: 'accept', content });
/** A counter of the fixture (`<counter>_finished`, `<counter>_cancelled`), read from its state directory. */
const counter = (name: string): number => {
  try {
    return Number(readFileSync(join(stateDir, name), 'utf8'));
  } catch {
    return 0;
  }
};

/** The first request of a call; its input_required round's requestState and request keys. */
async function firstRound(url: string, name: string, args: Record<string, unknown>, meta: Record<string, unknown> = {}, headers = gateway.headers) {
  const messages = await modernRpc(url, headers, 'tools/call', { name, arguments: args, _meta: meta }, { name, capabilities });
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

  it('refuse a requestState of an earlier round, or one used already, and go on with the current round', async () => {
    const name = 'legacy-ask';
    const args = { question: 'Which?', rounds: 2 };
    const retry = (url: string, state: string, key: string, answer: string) =>
      modernRpc(url, gateway.headers, 'tools/call', { name, arguments: args, inputResponses: { [key]: accept({ answer }) }, requestState: state }, { name, capabilities }).then(responseOf);
    const first = await firstRound(gateway.urls[0] as string, name, args);
    const second = (await retry(gateway.urls[1] as string, first.state, first.keys[0] as string, 'one')).result;
    expect(second?.['resultType']).toBe('input_required');
    const secondState = second?.['requestState'] as string;
    const [secondKey] = Object.keys(second?.['inputRequests'] as Record<string, unknown>);

    // The first round's state again, with the key it asked: refused, and the call waits on.
    const replayed = await retry(gateway.urls[0] as string, first.state, first.keys[0] as string, 'replayed');
    expect(replayed.error?.code).toBe(-32602);
    expect(replayed.error?.message).toMatch(/^Stale requestState: it is for input round 1 of this call, which is at round 2 now/);

    const done = await retry(gateway.urls[1] as string, secondState, secondKey as string, 'two');
    const { answers } = JSON.parse((done.result?.['content'] as { text: string }[])[0]?.text ?? '{}') as { answers: Record<string, { content: { answer: string } }> };
    expect(Object.values(answers).map((a) => a.content.answer)).toEqual(['one', 'two']);

    const again = await retry(gateway.urls[0] as string, secondState, secondKey as string, 'again');
    expect(again.error?.code).toBe(-32602);
    expect(again.error?.message).toMatch(/^Stale requestState: input round 2 of this call was answered already/);
  });

  it('stop the upstream call when the retrying client closes its stream', async () => {
    const name = 'legacy-ask_then_work';
    // Ten seconds of work, unless it is stopped.
    const args = { steps: 100, delayMs: 100, counter: `cancel${Date.now() % 1_000_000}` };
    const first = await firstRound(gateway.urls[0] as string, name, args);
    const seen: Record<string, unknown>[] = [];
    const close = new AbortController();
    await modernRpcStream(
      gateway.urls[1] as string,
      gateway.headers,
      'tools/call',
      { name, arguments: args, inputResponses: { [first.keys[0] as string]: accept({ ok: true }) }, requestState: first.state, _meta: { progressToken: 'retry' } },
      {
        name,
        capabilities,
        signal: close.signal,
        onMessage: (message) => {
          seen.push(message);
          // The upstream is at work on the retry's behalf: the client gives up.
          if (message['method'] === 'notifications/progress') close.abort();
        },
      },
    );
    expect(progressOf(seen)).toHaveLength(1);
    expect(seen.some((m) => 'result' in m || 'error' in m)).toBe(false);
    await eventually(() => Promise.resolve(expect(counter(`${args.counter}_cancelled`)).toBe(1)), { timeoutMs: 5_000 });
    expect(counter(`${args.counter}_finished`)).toBe(0);
  });
});

describe('a parked call and max_concurrent_calls', () => {
  let narrow: TestGateway;
  beforeAll(async () => {
    narrow = await startGateway({
      servers: { narrow: fixtureStdio({ spec_version: '2025-11-25', max_concurrent_calls: 1, max_queued_calls: 0 }) },
      inProcess: 'max_concurrent_calls is kept per worker: the call that must find no free slot has to reach the worker holding the parked call',
    });
  });
  afterAll(async () => {
    await narrow?.close();
  });

  it('holds its slot while its upstream call lives, and its retry takes none', async () => {
    const name = 'narrow-ask';
    const echo = () => legacyRpc(narrow.url, narrow.headers, 'tools/call', { name: 'narrow-echo', arguments: { text: 'x' } }).then(responseOf);
    const first = await firstRound(narrow.url, name, {}, {}, narrow.headers);

    // The upstream call waits for the client, in the server's one slot.
    const refused = await echo();
    expect(refused.error?.code).toBe(-32012);
    expect(refused.error?.message).toContain('upstream server "narrow" has 1 calls running and 0 waiting');

    // The retry reaches the call without waiting for that slot, and the call ends.
    const retry = await modernRpc(narrow.url, narrow.headers, 'tools/call', { name, arguments: {}, inputResponses: { [first.keys[0] as string]: accept({ answer: 'done' }) }, requestState: first.state }, { name, capabilities });
    expect(JSON.stringify(responseOf(retry).result)).toContain('\\"answer\\":\\"done\\"');
    await eventually(async () => expect((await echo()).result?.['content']).toEqual([{ type: 'text', text: 'x' }]), { timeoutMs: 5_000 });
  });
});
