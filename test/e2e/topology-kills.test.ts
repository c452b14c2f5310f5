import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLedgerServer, type LedgerServer } from '../harness/ledger-server.js';
import { reportOf, startLoad, summaryLine, type CallRecord, type LoadReport, type Target } from '../harness/load.js';
import { mixedWorkload, serving, TOPOLOGY_KEY, type LedgerCallKind, type LedgerCallOptions } from '../harness/topology-calls.js';
import { startSubmitter, submissionsEnded } from '../harness/submitter.js';
import { startTopology, type SupervisedProcess, type Topology } from '../harness/topology.js';

// Faults, restarts and drains take seconds each; a whole scenario stays well under this.
vi.setConfig({ testTimeout: 150_000 });

// kill -9 of each kind of replica while callers keep calling through the proxy. Every caller must
// get its answer or a clear error within its deadline, no call may run twice (unless it may be
// re-run), and service must come back on its own: the supervisor restarts what died, as compose would.
let topology: Topology;
let ledger: LedgerServer;
let proxied: Target;

/** An inline call's deadline: the server's timeout_ms, the ingress's grace of 1 s, and transit. */
const INLINE_TIMEOUT_MS = 5_000;
const CALLS: LedgerCallOptions = { ms: 600, steps: 3, inlineDeadlineMs: INLINE_TIMEOUT_MS + 2_000, jobDeadlineMs: 45_000 };

beforeAll(async () => {
  ledger = await startLedgerServer();
  topology = await startTopology({
    config: () => ({
      mcp_servers: {
        led: { url: ledger.url, timeout_ms: INLINE_TIMEOUT_MS },
        // `work` may not run twice (config says so, and so would its missing annotations);
        // `work_idem` may (its idempotentHint). A worker killed while queueing a job leaves its
        // caller waiting job_queue_timeout_ms (10 s by default).
        ledjob: { url: ledger.url, execution: 'job', timeout_ms: INLINE_TIMEOUT_MS, tools: { work: { idempotent: false } } },
      },
      general_settings: { master_key: TOPOLOGY_KEY },
      // A short lock, so a killed runner's jobs are noticed within seconds.
      mcpbus_settings: { job_lock_ms: 2_000, job_backoff_ms: 200, task_poll_interval_ms: 200 },
    }),
    upstreamPort: false,
  });
  proxied = { url: topology.url, headers: topology.headers };
}, 180_000);

afterAll(async () => {
  await topology?.close({ graceMs: 3_000 });
  await ledger?.close();
});

/** Keys that ran more than once though their calls may not be re-run. */
function runTwice(keys: Map<string, LedgerCallKind>): string[] {
  return [...keys].filter(([key, kind]) => kind !== 'idem-job' && ledger.entry(key).starts > 1).map(([key]) => key);
}

/** Successful calls whose answer did not come from exactly one finished run (idempotent jobs: at least one). */
function okWithoutOneRun(records: readonly CallRecord[]): string[] {
  return records
    .filter((r) => r.status === 'ok' && r.key !== undefined)
    .filter((r) => {
      const entry = ledger.entry(r.key as string);
      return r.label === 'idem-job' ? entry.finished < 1 : entry.starts !== 1 || entry.finished !== 1;
    })
    .map((r) => r.key as string);
}

interface Scenario {
  name: string;
  /** Durable submissions (JetStream) alongside the calls. */
  submit?: boolean;
  kinds: LedgerCallKind[];
  /** Which process dies. */
  victim(): SupervisedProcess;
  /** Waits until the moment worth killing at (calls in flight where it hurts). */
  ready?(keys: Map<string, LedgerCallKind>): Promise<void>;
}

async function killUnderLoad(scenario: Scenario): Promise<{ report: LoadReport; keys: Map<string, LedgerCallKind>; submissions: Record<string, number> }> {
  const keys = new Map<string, LedgerCallKind>();
  const load = startLoad({ concurrency: 12, next: mixedWorkload(proxied, scenario.kinds, { ...CALLS, keys }) });
  const submitter = scenario.submit === true ? await startSubmitter({ natsUrl: topology.natsUrl, subjectRoot: topology.subjectRoot, server: 'ledjob', tool: 'ledjob-work', args: (key) => ({ key, ms: 300 }), apiKey: TOPOLOGY_KEY }) : undefined;
  await load.ended(12);
  await scenario.ready?.(keys);
  const victim = scenario.victim();
  const faultAt = Date.now();
  await victim.kill('SIGKILL');
  await victim.waitReady();
  const restartedMs = Date.now() - faultAt;
  await load.ended(24);
  const records = await load.stop();
  const { acked } = (await submitter?.stop()) ?? { acked: [] };
  const report = reportOf(records, faultAt);
  // A worker killed holding a submission it had not acknowledged: JetStream hands it out again
  // after the consumer's ack_wait (30 s).
  const submittedAt = Date.now();
  const submissions = await submissionsEnded(proxied, acked);
  const submissionsMs = Date.now() - submittedAt;
  for (const id of acked) keys.set(id, 'job');
  const extra: Record<string, string | number> = acked.length === 0 ? {} : { 'submissions-acked': acked.length, 'submissions-ended': JSON.stringify(submissions), 'all-ended-after': `${(submissionsMs / 1000).toFixed(1)}s` };
  console.log(summaryLine(scenario.name, report, { restarted: `${(restartedMs / 1000).toFixed(1)}s`, ...extra }));
  expect(okWithoutOneRun(records)).toEqual([]);
  // Progress goes over NATS, which is up throughout: every update arrives.
  expect(report.progressGaps).toBe(0);
  return { report, keys, submissions };
}

/** Resolves once `count` job calls are running at the upstream (started, not finished). */
async function jobsRunning(keys: Map<string, LedgerCallKind>, count: number): Promise<void> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const running = [...keys].filter(([key, kind]) => kind !== 'inline' && kind !== 'progress' && kind !== 'modern' && ledger.entry(key).starts > ledger.entry(key).finished + ledger.entry(key).cancelled);
    if (running.length >= count) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`fewer than ${count} jobs were running at once`);
}

describe('kill -9', () => {
  it('of a worker: calls it was running fail with a clear error by their deadline, others go on, none runs twice', async () => {
    const { report, keys, submissions } = await killUnderLoad({ name: 'kill -9 worker-1', kinds: ['inline', 'progress', 'modern', 'job', 'task'], submit: true, victim: () => topology.workers[0] as SupervisedProcess });
    // Every acknowledged submission was processed (the survivor, or the restarted worker, took it).
    expect(Object.keys(submissions)).toEqual(['completed']);
    expect(report.lost, JSON.stringify(report.sample)).toBe(0);
    expect(report.cut, JSON.stringify(report.sample)).toBe(0);
    // The only failures: calls the dead worker held, which time out (-32001).
    expect(Object.keys(report.errorsByCode).filter((code) => code !== '-32001'), JSON.stringify(report.sample)).toEqual([]);
    expect(runTwice(keys)).toEqual([]);
    expect((await serving(proxied, ['inline', 'progress', 'job', 'task'], CALLS)).sample).toEqual([]);
  });

  it('of the runner with jobs in flight: each job completes, is re-run (idempotent) or ends "outcome unknown"; none runs twice', async () => {
    const { report, keys, submissions } = await killUnderLoad({
      name: 'kill -9 runner-1 (jobs in flight)',
      kinds: ['job', 'task', 'idem-job', 'job', 'inline'],
      submit: true,
      victim: () => topology.runners[0] as SupervisedProcess,
      ready: (k) => jobsRunning(k, 3),
    });
    expect(report.lost, JSON.stringify(report.sample)).toBe(0);
    expect(report.cut, JSON.stringify(report.sample)).toBe(0);
    // Interrupted jobs that may not run again end -32013 (outcome unknown); nothing else fails.
    expect(Object.keys(report.errorsByCode).filter((code) => code !== '-32013'), JSON.stringify(report.sample)).toEqual([]);
    expect(report.error).toBeGreaterThan(0);
    // Submitted jobs end the same ways: completed, or failed (outcome unknown) if the runner died under them.
    expect(Object.keys(submissions).filter((status) => status !== 'completed' && status !== 'failed')).toEqual([]);
    expect(runTwice(keys)).toEqual([]);
    expect((await serving(proxied, ['job', 'task', 'idem-job'], CALLS)).sample).toEqual([]);
  });

  it('of an ingress: its callers get a 502 or a broken stream at once, tasks are asked for again and complete, none runs twice', async () => {
    const { report, keys } = await killUnderLoad({ name: 'kill -9 ingress-1', kinds: ['inline', 'progress', 'modern', 'job', 'task'], victim: () => topology.ingresses[0] as SupervisedProcess });
    expect(report.lost, JSON.stringify(report.sample)).toBe(0);
    // Only calls the dead ingress was answering fail: 502 from the proxy (JSON answers), or an
    // SSE answer broken off (cut); new calls go to the other ingress.
    expect(Object.keys(report.errorsByCode).filter((code) => code !== '-32603'), JSON.stringify(report.sample)).toEqual([]);
    expect(report.error + report.cut).toBeLessThanOrEqual(12);
    expect(runTwice(keys)).toEqual([]);
    expect((await serving(proxied, ['inline', 'progress', 'job', 'task'], CALLS)).sample).toEqual([]);
  });
});
