import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLedgerServer, type LedgerServer } from '../harness/ledger-server.js';
import { callTool, judge, reportOf, startLoad, succeedingAgain, summaryLine, textOfResult, type CallSpec, type Outcome, type Target } from '../harness/load.js';
import { fixtureStdio, ledgerCall, serving, TOPOLOGY_KEY, type LedgerCallKind, type LedgerCallOptions } from '../harness/topology-calls.js';
import { startTopology, type Topology } from '../harness/topology.js';
import { eventually } from '../harness/wait.js';

// Faults, restarts and drains take seconds each; a whole scenario stays well under this.
vi.setConfig({ testTimeout: 150_000 });

// Upstreams that misbehave while callers keep calling through the proxy: one that hangs, one that
// crashes mid-call, one that floods progress. Callers of the misbehaving upstream get clear errors
// in time (or their results), callers of healthy upstreams do not notice, and calls succeed again
// once the upstream does, without anyone stepping in.
let topology: Topology;
let ledger: LedgerServer;
let blackHole: Server;
const held = new Set<Socket>();
let proxied: Target;

const TIMEOUT_MS = 2_000;
const HEALTHY: LedgerCallOptions = { ms: 300, steps: 3, inlineDeadlineMs: 12_000, jobDeadlineMs: 30_000 };

beforeAll(async () => {
  ledger = await startLedgerServer();
  // Accepts connections and never answers: an upstream hung below MCP.
  blackHole = createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const holePort = (blackHole.address() as { port: number }).port;
  topology = await startTopology({
    config: ({ upstreamUrl }) => ({
      mcp_servers: {
        led: { url: ledger.url, timeout_ms: 10_000 },
        ledjob: { url: ledger.url, execution: 'job', timeout_ms: 10_000 },
        // The demo upstream (a process of its own, restarted by the supervisor when it dies).
        web: { url: upstreamUrl, timeout_ms: 10_000 },
        webjob: { url: upstreamUrl, execution: 'job', timeout_ms: 10_000 },
        // The same upstream under a short deadline: its `sleep` tool hangs past it.
        hang: { url: upstreamUrl, timeout_ms: TIMEOUT_MS },
        hole: { url: `http://127.0.0.1:${holePort}/mcp`, timeout_ms: TIMEOUT_MS },
        // The fixture as a stdio child of each worker: its `crash` tool kills that child.
        fx: fixtureStdio({ timeout_ms: 10_000 }),
      },
      general_settings: { master_key: TOPOLOGY_KEY },
    }),
  });
  proxied = { url: topology.url, headers: topology.headers };
}, 180_000);

afterAll(async () => {
  await topology?.close({ graceMs: 3_000 });
  await ledger?.close();
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => blackHole?.close(resolve));
});

/** A call of a fixture tool whose right answer is `expected` (a function of the arguments). */
function fixtureCall(label: string, name: string, args: Record<string, unknown>, expected: string, deadlineMs: number, options: { progress?: boolean; steps?: number } = {}): CallSpec {
  return { label, deadlineMs, run: async (signal) => judge(await callTool(proxied, name, args, { ...options, signal }), expected, options.steps) };
}

/** Healthy ledger traffic, cycling through `kinds`. */
function healthy(kinds: LedgerCallKind[], keys: Map<string, LedgerCallKind>): (caller: number, n: number) => CallSpec {
  return (caller, n) => ledgerCall(proxied, kinds[(caller + n) % kinds.length] as LedgerCallKind, { ...HEALTHY, keys });
}

/** Waits until `name` answers right again (a circuit breaker's pause, a restart). */
async function answersAgain(name: string, args: Record<string, unknown>, expected: string, timeoutMs = 70_000): Promise<number> {
  const since = Date.now();
  await eventually(async () => {
    const outcome: Outcome = judge(await callTool(proxied, name, args), expected);
    if (outcome.status !== 'ok') throw new Error(JSON.stringify(outcome));
  }, { timeoutMs, intervalMs: 250 });
  return Date.now() - since;
}

const healthyOnly = (label: string): boolean => label === 'inline' || label === 'progress' || label === 'job' || label === 'modern';

describe('an upstream that hangs', () => {
  it('costs its callers a clear timeout (or an open circuit) and nobody else anything; it serves again once it answers', async () => {
    const keys = new Map<string, LedgerCallKind>();
    const healthyNext = healthy(['inline', 'progress', 'modern', 'job'], keys);
    const load = startLoad({
      concurrency: 12,
      next: (caller, n) => {
        // Callers 0-3 call the hanging tool; 4-5 the server that never answers at all; the rest are healthy.
        if (caller < 4) return fixtureCall('hang', 'hang-sleep', { ms: 60_000 }, 'slept 60000', TIMEOUT_MS + 2_000);
        if (caller < 6) return fixtureCall('hole', 'hole-anything', {}, '', TIMEOUT_MS + 2_000);
        return healthyNext(caller, n);
      },
    });
    const faultAt = Date.now();
    await load.until((r) => r.length >= 60 && Date.now() - faultAt >= 8_000, 90_000);
    const records = await load.stop();
    const report = reportOf(records, faultAt);
    const hurt = reportOf(records.filter((r) => !healthyOnly(r.label)), faultAt);
    const spared = reportOf(records.filter((r) => healthyOnly(r.label)), faultAt);
    const hole = reportOf(records.filter((r) => r.label === 'hole'), faultAt);
    // Once the hanging tool answers (a short sleep), calls of that server succeed again: the
    // circuit breaker's pause ends by itself.
    const backMs = await answersAgain('hang-sleep', { ms: 10 }, 'slept 10');
    // The fault lasts as long as callers call the hanging tool: recovery counts from when they stop.
    console.log(summaryLine('upstream hangs (tool sleeps past timeout_ms; a server that never answers)', { ...report, recoveryMs: backMs }, { 'healthy-ok': `${spared.ok}/${spared.attempted}`, 'never-answers': JSON.stringify(hole.errorsByCode) }));
    expect(report.lost, JSON.stringify(report.sample)).toBe(0);
    expect(report.cut).toBe(0);
    expect(spared.sample).toEqual([]);
    expect(hurt.ok).toBe(0);
    // -32001: did not answer within timeout_ms; -32010: unavailable, or the circuit is open.
    expect(Object.keys(hurt.errorsByCode).filter((code) => code !== '-32001' && code !== '-32010'), JSON.stringify(hurt.sample)).toEqual([]);
  });
});

describe('an upstream that crashes mid-call', () => {
  it.each([
    ['a stdio upstream (each worker restarts its child)', 'fx'],
    ['an HTTP upstream (its process is restarted, as compose would)', 'web'],
  ])('%s: its callers get clear errors, then it serves again', async (what, server) => {
    await answersAgain(`${server}-echo`, { text: 'before' }, 'before');
    const keys = new Map<string, LedgerCallKind>();
    const healthyNext = healthy(['inline', 'job'], keys);
    const load = startLoad({
      concurrency: 10,
      next: (caller, n) => (caller < 6 ? fixtureCall('crashing', `${server}-slow`, { steps: 5, delayMs: 100 }, 'done after 5 steps', 12_000, n % 2 === 0 ? { progress: true, steps: 5 } : {}) : healthyNext(caller, n)),
    });
    await load.ended(10);
    const faultAt = Date.now();
    // One crash per worker for stdio (each has its own child); one for the HTTP upstream.
    const crashes = await Promise.all(Array.from({ length: server === 'fx' ? 4 : 1 }, () => callTool(proxied, `${server}-crash`, { afterMs: 200 })));
    // Runs until calls of the crashed upstream have succeeded again for a while.
    await load.until((r) => succeedingAgain(r, faultAt, 12, 'crashing'), 90_000);
    const records = await load.stop();
    const report = reportOf(records, faultAt);
    const spared = reportOf(records.filter((r) => healthyOnly(r.label)), faultAt);
    console.log(summaryLine(`upstream crashes mid-call: ${server === 'fx' ? 'stdio child' : 'HTTP process'}`, report, { 'healthy-ok': `${spared.ok}/${spared.attempted}` }));
    // The crash calls themselves end with a clear error too (the upstream died under them).
    for (const crash of crashes) expect(crash.error?.code, JSON.stringify(crash)).toBe(-32010);
    expect(report.lost, JSON.stringify(report.sample)).toBe(0);
    expect(report.cut).toBe(0);
    expect(report.progressGaps).toBe(0);
    expect(spared.sample).toEqual([]);
    expect(report.error, `${what}: some call was hit`).toBeGreaterThan(0);
    expect(Object.keys(report.errorsByCode).filter((code) => code !== '-32010'), JSON.stringify(report.sample)).toEqual([]);
  });
});

describe('an upstream that floods progress', () => {
  it('relays every update in order to each caller, with its result, and other callers do not notice', async () => {
    const steps = 1_000;
    const flood: { delivered: number; inOrder: boolean; label: string }[] = [];
    const floodCall = (label: string, name: string, modern: boolean): CallSpec => ({
      label,
      deadlineMs: 30_000,
      run: async (signal): Promise<Outcome> => {
        const reply = await callTool(proxied, name, { steps, delayMs: 0 }, { progress: true, modern, signal });
        const inOrder = reply.progress.every((p, i) => p === i + 1);
        flood.push({ delivered: reply.progress.length, inOrder, label });
        const outcome = judge(reply, `done after ${steps} steps`);
        if (outcome.status === 'ok' && !inOrder) return { status: 'lost', message: `progress out of order: ${reply.progress.slice(0, 20).join(',')}…` };
        return outcome;
      },
    });
    await answersAgain('web-echo', { text: 'before' }, 'before');
    const keys = new Map<string, LedgerCallKind>();
    const healthyNext = healthy(['inline', 'progress', 'job'], keys);
    const load = startLoad({
      concurrency: 10,
      next: (caller, n) => {
        if (caller < 3) return floodCall('flood-inline', 'web-slow', false);
        if (caller < 4) return floodCall('flood-2026', 'web-slow', true);
        if (caller < 5) return floodCall('flood-job', 'webjob-slow', false);
        return healthyNext(caller, n);
      },
    });
    const startedAt = Date.now();
    await load.ended(40, 120_000);
    const records = await load.stop();
    const report = reportOf(records, startedAt);
    const spared = reportOf(records.filter((r) => healthyOnly(r.label)), startedAt);
    const delivered = flood.reduce((sum, f) => sum + f.delivered, 0);
    console.log(summaryLine(`upstream floods progress (${steps} updates per call, no delay)`, report, { 'flood-calls': flood.length, 'updates-delivered': `${delivered}/${flood.length * steps}`, 'healthy-ok': `${spared.ok}/${spared.attempted}` }));
    expect(report.sample).toEqual([]);
    expect(flood.length).toBeGreaterThan(0);
    expect(flood.every((f) => f.inOrder)).toBe(true);
    expect(delivered).toBe(flood.length * steps);
    expect(textOfResult((await callTool(proxied, 'web-echo', { text: 'calm' })).result)).toBe('calm');
    expect((await serving(proxied, ['inline', 'job'])).sample).toEqual([]);
  });
});
