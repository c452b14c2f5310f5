import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLedgerServer, type LedgerServer } from '../harness/ledger-server.js';
import { reportOf, startLoad, succeedingAgain, summaryLine, type Target } from '../harness/load.js';
import { startOwnServer, type OwnServer } from '../harness/own-infra.js';
import { startSubmitter, submissionsEnded } from '../harness/submitter.js';
import { mixedWorkload, serving, TOPOLOGY_KEY, type LedgerCallKind, type LedgerCallOptions } from '../harness/topology-calls.js';
import { startTopology, type Topology } from '../harness/topology.js';

// Faults take seconds each; a whole scenario stays well under this.
vi.setConfig({ testTimeout: 150_000 });

// nats-server and redis-server killed (-9) and started again under load. These are servers of this
// file's own, on free ports: the machine's shared ones serve every other test file meanwhile.
let nats: OwnServer;
let redis: OwnServer;
let topology: Topology;
let ledger: LedgerServer;
let proxied: Target;

const INLINE_TIMEOUT_MS = 5_000;
const CALLS: LedgerCallOptions = { ms: 400, steps: 2, inlineDeadlineMs: INLINE_TIMEOUT_MS + 2_000, jobDeadlineMs: 60_000 };
const KINDS: LedgerCallKind[] = ['inline', 'progress', 'modern', 'job', 'task', 'idem-job'];

beforeAll(async () => {
  [nats, redis, ledger] = await Promise.all([startOwnServer('nats'), startOwnServer('redis'), startLedgerServer()]);
  topology = await startTopology({
    natsUrl: nats.url,
    redisUrl: redis.url,
    upstreamPort: false,
    config: () => ({
      mcp_servers: {
        led: { url: ledger.url, timeout_ms: INLINE_TIMEOUT_MS },
        ledjob: { url: ledger.url, execution: 'job', timeout_ms: INLINE_TIMEOUT_MS, tools: { work: { idempotent: false } } },
      },
      general_settings: { master_key: TOPOLOGY_KEY },
      mcpbus_settings: { job_lock_ms: 5_000, job_backoff_ms: 200, task_poll_interval_ms: 200 },
    }),
  });
  proxied = { url: topology.url, headers: topology.headers };
}, 180_000);

afterAll(async () => {
  await topology?.close({ graceMs: 3_000 });
  await Promise.allSettled([nats?.close(), redis?.close(), ledger?.close()]);
});

/** Every acknowledged submission ran exactly once, and its task completed. */
async function expectProcessed(acked: readonly string[]): Promise<number> {
  const since = Date.now();
  expect(await submissionsEnded(proxied, acked)).toEqual(acked.length === 0 ? {} : { completed: acked.length });
  expect(acked.filter((id) => ledger.entry(id).starts !== 1)).toEqual([]);
  return Date.now() - since;
}

describe.each([
  ['nats-server', () => nats],
  ['redis-server', () => redis],
] as const)('a restart (kill -9, then start) of %s under load', (name, server) => {
  it('answers every caller with a result or a clear error in time, loses no acknowledged job or submission, and serves again unaided', async () => {
    const keys = new Map<string, LedgerCallKind>();
    const load = startLoad({ concurrency: 10, next: mixedWorkload(proxied, KINDS, { ...CALLS, keys }) });
    const submissions = await startSubmitter({ natsUrl: nats.url, subjectRoot: topology.subjectRoot, server: 'led', tool: 'led-work', args: (key) => ({ key, ms: 100 }), apiKey: TOPOLOGY_KEY });
    await load.ended(15);
    const faultAt = Date.now();
    await server().kill('SIGKILL');
    // An outage of a second, then the same server again on the same port and data.
    await new Promise((r) => setTimeout(r, 1_000));
    await server().start();
    const restartedMs = Date.now() - faultAt;
    await topology.waitReady(60_000);
    // Every kind of call succeeds again (each at least a few times after its last failure).
    await load.until((records) => KINDS.every((kind) => succeedingAgain(records, faultAt, 3, kind)), 120_000);
    const records = await load.stop();
    const { acked, refused } = await submissions.stop();
    const report = reportOf(records, faultAt);
    const processedMs = await expectProcessed(acked);
    console.log(summaryLine(`kill -9 + restart ${name}`, report, { outage: `${(restartedMs / 1000).toFixed(1)}s`, 'submissions-acked': acked.length, 'submissions-refused': refused, 'acked-processed': `${acked.length}/${acked.length}`, 'last-processed-after': `${(processedMs / 1000).toFixed(1)}s` }));
    expect(report.lost, JSON.stringify(report.sample)).toBe(0);
    expect(report.cut, JSON.stringify(report.sample)).toBe(0);
    // Core NATS is at-most-once: progress published while it was down is gone (the results are
    // not: they are re-read from Redis). With Redis away, progress still flows.
    if (name === 'redis-server') expect(report.progressGaps).toBe(0);
    expect([...keys].filter(([key, kind]) => kind !== 'idem-job' && ledger.entry(key).starts > 1).map(([key]) => key)).toEqual([]);
    expect((await serving(proxied, KINDS, CALLS)).sample).toEqual([]);
  });
});
