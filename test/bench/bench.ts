// `pnpm bench [--rate N] [--rates A,B,C] [--duration S] [--warmup S] [--concurrency N] [--clients N]
//             [--only SECTIONS] [--sessions N] [--idle-sessions N] [--quick] [--split] [--profile DIR]`
//
// Compares, in one run, MCP calls straight to the fixture upstream with the same calls through
// mcpbus (`/mcp`): both servers run as child processes on 127.0.0.1, the load runs here. Then, on
// upstreams and mcpbus processes of their own: tools/list across many upstreams (one of them
// dead), and memory and limits of many sessions on one ingress.
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Target } from './load.js';
import { coldList, latencyAtRate, progressRelay, rawLatencyAtRate, rawThroughput, sdkThroughput, warmList, type LatencyOutcome, type ProgressOutcome, type ThroughputOutcome, type Watched } from './phases.js';
import { deleteSubmitStream } from '../harness/streams.js';
import { jobPickup, jobThroughput, progressLatency, type JobPickup, type JobThroughput, type ProgressLatency } from './jobs.js';
import { busRequestReply, durableSubmits, type BusRun } from './bus.js';
import { BENCH_MASTER_KEY, FIXTURE_SERVER_NAME, JOBS_SERVER_NAME, LOCAL_SERVER_NAME, STDIO_SERVER_NAME, startFixtureChild, startMcpbusChildren, stopAllChildren, type ChildOptions } from './processes.js';
import { runScale, type ScaleSettings } from './scale.js';
import { fdLimit, findPid, formatTable, machineBusyPercent, machineInfo, type Row } from './stats.js';

const SECTIONS = ['calls', 'jobs', 'bus', 'lists', 'sessions'] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `usage: pnpm bench [--rate 200] [--rates 100,200,400] [--duration 10] [--warmup 2] [--concurrency 64] [--clients 16]
                  [--only calls,jobs,bus,lists,sessions] [--sessions 10000] [--idle-sessions 1000] [--session-clients 2]
                  [--list-deadline 1000] [--quick] [--split] [--profile DIR]
  --rate             echo calls per second for the SDK latency run
  --rates            rates of the raw HTTP latency runs (--quick: just --rate)
  --duration         seconds each measured run lasts (--quick: 2)
  --warmup           seconds of unrecorded load before each run (--quick: 0.5)
  --concurrency      calls in flight in the throughput runs
  --clients          SDK clients those calls are spread over (latency run: 8)
  --only             sections to run (default all): calls (direct vs /mcp), jobs, bus, lists (tools/list
                     across 20 upstreams × 50 tools, one dead), sessions (idle session memory, N concurrent SSE sessions)
  --sessions         concurrent legacy SSE sessions in the sessions section (--quick: 1000)
  --idle-sessions    idle SSE sessions whose memory is measured (--quick: 200)
  --session-clients  client processes holding the concurrent sessions
  --list-deadline    list_deadline_ms of the lists section's mcpbus
  --split            run mcpbus as three processes (ingress, worker, runner) instead of one with all roles
  --profile DIR      write V8 CPU profiles of the mcpbus and fixture children to DIR`;

interface Settings {
  only: ReadonlySet<Section>;
  ratePerSecond: number;
  /** Raw HTTP latency runs at these rates too (ratePerSecond among them). */
  rates: number[];
  durationMs: number;
  warmupMs: number;
  concurrency: number;
  clients: number;
  latencyClients: number;
  warmLists: number;
  progressRuns: number;
  jobs: number;
  split: boolean;
  profileDir: string | undefined;
  scale: ScaleSettings;
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${value}"\n${USAGE}`);
  return n;
}

function readSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      rate: { type: 'string' },
      rates: { type: 'string' },
      only: { type: 'string' },
      sessions: { type: 'string' },
      'idle-sessions': { type: 'string' },
      'session-clients': { type: 'string' },
      'list-deadline': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      clients: { type: 'string' },
      quick: { type: 'boolean' },
      profile: { type: 'string' },
      split: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const ratePerSecond = positive('rate', values.rate, 200);
  const rates = values.rates === undefined ? (quick ? [ratePerSecond] : [100, 200, 400]) : values.rates.split(',').map((r) => positive('rates', r, 0));
  const only = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(',')).split(',').map((n) => n.trim())) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section "${name}"\n${USAGE}`);
    only.add(name as Section);
  }
  const concurrentSessions = Math.round(positive('sessions', values.sessions, quick ? 1_000 : 10_000));
  return {
    only,
    ratePerSecond,
    rates: [...new Set([...rates, ratePerSecond])].sort((a, b) => a - b),
    durationMs: positive('duration', values.duration, quick ? 2 : 10) * 1000,
    warmupMs: positive('warmup', values.warmup, quick ? 0.5 : 2) * 1000,
    concurrency: Math.round(positive('concurrency', values.concurrency, 64)),
    clients: Math.round(positive('clients', values.clients, 16)),
    latencyClients: 8,
    warmLists: quick ? 50 : 200,
    progressRuns: quick ? 3 : 10,
    jobs: quick ? 2_000 : 10_000,
    split: values.split === true,
    profileDir: values.profile === undefined ? undefined : resolve(values.profile),
    scale: {
      lists: only.has('lists'),
      sessions: only.has('sessions'),
      upstreams: 20,
      toolsPerServer: 50,
      listDeadlineMs: Math.round(positive('list-deadline', values['list-deadline'], 1_000)),
      warmLists: quick ? 20 : 100,
      hungLists: quick ? 1 : 5,
      idleSessions: Math.round(positive('idle-sessions', values['idle-sessions'], quick ? 200 : 1_000)),
      idleHttpClients: quick ? 50 : 200,
      settleMs: quick ? 500 : 2_000,
      concurrentSessions,
      sessionClients: Math.round(positive('session-clients', values['session-clients'], 2)),
    },
  };
}

interface TargetResults {
  latency: LatencyOutcome;
  rawLatency: LatencyOutcome;
  /** Raw HTTP at every rate of `--rates`; `rawLatency` is the one at `--rate`. */
  rawByRate: Map<number, LatencyOutcome>;
  sdk: ThroughputOutcome;
  raw: ThroughputOutcome;
  warmListMs: number;
  progress: ProgressOutcome;
}

const benchStartedAt = performance.now();
const log = (line: string): void => {
  process.stderr.write(`  … [${((performance.now() - benchStartedAt) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
};

async function measure(target: Target, s: Settings, watched: Watched): Promise<TargetResults> {
  log(`${target.label}: warm tools/list ×${s.warmLists}`);
  const warmListMs = await warmList(target, s.warmLists);
  log(`${target.label}: echo at ${s.ratePerSecond}/s for ${s.durationMs / 1000} s`);
  const rate = { ratePerSecond: s.ratePerSecond, durationMs: s.durationMs, warmupMs: s.warmupMs };
  const latency = await latencyAtRate(target, s.latencyClients, rate, watched);
  const rawByRate = new Map<number, LatencyOutcome>();
  for (const ratePerSecond of s.rates) {
    log(`${target.label}: echo at ${ratePerSecond}/s, raw HTTP`);
    rawByRate.set(ratePerSecond, await rawLatencyAtRate(target, s.latencyClients, { ...rate, ratePerSecond }, watched));
  }
  const rawLatency = rawByRate.get(s.ratePerSecond) as LatencyOutcome;
  log(`${target.label}: closed loop, SDK clients, ${s.concurrency} in flight`);
  const sdk = await sdkThroughput(target, s.clients, s.concurrency, s.durationMs, s.warmupMs, watched);
  log(`${target.label}: closed loop, raw HTTP, ${s.concurrency} in flight`);
  const raw = await rawThroughput(target, s.concurrency, s.durationMs, s.warmupMs, watched);
  log(`${target.label}: slow tool with progress ×${s.progressRuns}`);
  const progress = await progressRelay(target, s.progressRuns);
  return { latency, rawLatency, rawByRate, sdk, raw, warmListMs, progress };
}

function comparisonRows(d: TargetResults, g: TargetResults, cold: { direct: number; gateway: number }, s: Settings): Row[] {
  const at = `@${s.ratePerSecond}/s`;
  const c = `c=${s.concurrency}`;
  return [
    { metric: `echo p50 ${at} (ms)`, direct: d.latency.latency.p50, gateway: g.latency.latency.p50 },
    { metric: `echo p90 ${at} (ms)`, direct: d.latency.latency.p90, gateway: g.latency.latency.p90 },
    { metric: `echo p99 ${at} (ms)`, direct: d.latency.latency.p99, gateway: g.latency.latency.p99 },
    { metric: `echo max ${at} (ms)`, direct: d.latency.latency.max, gateway: g.latency.latency.max },
    { metric: `echo errors ${at}`, direct: d.latency.run.errors, gateway: g.latency.run.errors, digits: 0 },
    ...s.rates.flatMap((rate): Row[] => {
      const [dr, gr] = [d.rawByRate.get(rate), g.rawByRate.get(rate)];
      return [
        { metric: `echo p50 @${rate}/s, raw HTTP (ms)`, direct: dr?.latency.p50, gateway: gr?.latency.p50 },
        { metric: `echo p99 @${rate}/s, raw HTTP (ms)`, direct: dr?.latency.p99, gateway: gr?.latency.p99 },
        { metric: `echo errors @${rate}/s, raw HTTP`, direct: dr?.run.errors, gateway: gr?.run.errors, digits: 0 },
      ];
    }),
    { metric: `echo calls/s, SDK ${s.clients} clients ${c}`, direct: d.sdk.run.callsPerSecond, gateway: g.sdk.run.callsPerSecond, digits: 0, delta: 'pct' },
    { metric: `echo errors, SDK ${c}`, direct: d.sdk.run.errors, gateway: g.sdk.run.errors, digits: 0 },
    { metric: `echo calls/s, raw HTTP ${c}`, direct: d.raw.run.callsPerSecond, gateway: g.raw.run.callsPerSecond, digits: 0, delta: 'pct' },
    { metric: `echo errors, raw HTTP ${c}`, direct: d.raw.run.errors, gateway: g.raw.run.errors, digits: 0 },
    { metric: 'tools/list cold: connect+list (ms)', direct: cold.direct, gateway: cold.gateway },
    { metric: `tools/list warm, median of ${s.warmLists} (ms)`, direct: d.warmListMs, gateway: g.warmListMs },
    { metric: 'slow 20×5ms: total (ms)', direct: d.progress.totalMs, gateway: g.progress.totalMs },
    { metric: 'slow 20×5ms: first progress (ms)', direct: d.progress.firstProgressMs, gateway: g.progress.firstProgressMs },
    { metric: 'slow 20×5ms: progress received', direct: d.progress.notifications, gateway: g.progress.notifications, digits: 0 },
  ];
}

interface JobResults {
  direct: ProgressLatency;
  inline: ProgressLatency;
  job: ProgressLatency;
  pickup: JobPickup;
  throughput: JobThroughput;
  local: JobThroughput;
}

async function measureJobs(direct: Target, gateway: Target, subjectRoot: string, s: Settings): Promise<JobResults> {
  log(`progress relay latency, stamped slow 20×5ms ×${s.progressRuns}: direct, mcpbus inline, mcpbus job`);
  const d = await progressLatency(direct, direct.slowTool, s.progressRuns);
  const inline = await progressLatency(gateway, gateway.slowTool, s.progressRuns);
  const job = await progressLatency(gateway, `${JOBS_SERVER_NAME}-slow`, s.progressRuns);
  const natsUrl = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
  log(`job pickup: ${s.progressRuns * 10} sequential one-step jobs through the bus`);
  const pickup = await jobPickup(natsUrl, BENCH_MASTER_KEY, subjectRoot, JOBS_SERVER_NAME, s.progressRuns * 10);
  log(`${s.jobs} echo jobs (HTTP upstream) through the bus, 256 submissions in flight`);
  const throughput = await jobThroughput(natsUrl, BENCH_MASTER_KEY, subjectRoot, JOBS_SERVER_NAME, `${JOBS_SERVER_NAME}-echo`, s.jobs, 256);
  log(`${s.jobs} in-process (mcp_tools) jobs through the bus, 256 submissions in flight`);
  const local = await jobThroughput(natsUrl, BENCH_MASTER_KEY, subjectRoot, LOCAL_SERVER_NAME, `${LOCAL_SERVER_NAME}-noop`, s.jobs, 256);
  return { direct: d, inline, job, pickup, throughput, local };
}

function jobRows(r: JobResults): Row[] {
  const t = r.throughput;
  const l = r.local;
  return [
    { metric: 'progress upstream→client p50, inline (ms)', direct: r.direct.relay.p50, gateway: r.inline.relay.p50 },
    { metric: 'progress upstream→client p99, inline (ms)', direct: r.direct.relay.p99, gateway: r.inline.relay.p99 },
    { metric: 'progress upstream→client p50, job (ms)', direct: r.direct.relay.p50, gateway: r.job.relay.p50 },
    { metric: 'progress upstream→client p99, job (ms)', direct: r.direct.relay.p99, gateway: r.job.relay.p99 },
    { metric: 'slow 20×5ms job: call → first progress (ms)', direct: r.direct.firstProgressMs, gateway: r.job.firstProgressMs },
    { metric: 'slow 20×5ms job: call → result (ms)', direct: r.direct.resultMs, gateway: r.job.resultMs },
    { metric: 'slow 20×5ms job: progress received', direct: r.direct.notifications, gateway: r.job.notifications, digits: 0 },
    { metric: 'bus: job queued → first progress p50 (ms)', direct: undefined, gateway: r.pickup.enqueueToFirstProgressMs.p50 },
    { metric: 'bus: job queued → first progress p99 (ms)', direct: undefined, gateway: r.pickup.enqueueToFirstProgressMs.p99 },
    { metric: 'bus: job queued → result p50 (ms)', direct: undefined, gateway: r.pickup.enqueueToResultMs.p50 },
    { metric: `echo jobs/s via the bus (${t.jobs} jobs)`, direct: undefined, gateway: t.jobsPerSecond, digits: 0 },
    { metric: 'echo job: submit → queued p50 (ms)', direct: undefined, gateway: t.acceptMs.p50 },
    { metric: 'echo job: submit → end p50 (ms), under load', direct: undefined, gateway: t.endMs.p50 },
    { metric: 'echo jobs failed', direct: undefined, gateway: t.failed, digits: 0 },
    { metric: `in-process tool jobs/s via the bus (${l.jobs} jobs)`, direct: undefined, gateway: l.jobsPerSecond, digits: 0 },
    { metric: 'in-process job: submit → end p50 (ms), under load', direct: undefined, gateway: l.endMs.p50 },
    { metric: 'in-process jobs failed', direct: undefined, gateway: l.failed, digits: 0 },
  ];
}

interface BusResults {
  local: BusRun;
  stdio: BusRun;
  http: BusRun;
  submits: { acksPerSecond: number; endsPerSecond: number; failed: number };
}

async function measureBus(subjectRoot: string, s: Settings): Promise<BusResults> {
  const natsUrl = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
  const run = (server: string, tool: string): Promise<BusRun> => busRequestReply(natsUrl, BENCH_MASTER_KEY, subjectRoot, server, tool, s.concurrency, s.durationMs, s.warmupMs);
  log(`bus request/reply, ${s.concurrency} in flight: in-process tool, stdio upstream, HTTP upstream`);
  const local = await run(LOCAL_SERVER_NAME, `${LOCAL_SERVER_NAME}-noop`);
  const stdio = await run(STDIO_SERVER_NAME, `${STDIO_SERVER_NAME}-echo`);
  const http = await run(FIXTURE_SERVER_NAME, `${FIXTURE_SERVER_NAME}-echo`);
  log(`${s.jobs} durable submissions (JetStream) of the in-process tool, 256 publishes in flight`);
  const submits = await durableSubmits(natsUrl, BENCH_MASTER_KEY, subjectRoot, LOCAL_SERVER_NAME, `${LOCAL_SERVER_NAME}-noop`, s.jobs, 256);
  return { local, stdio, http, submits };
}

function busRows(r: BusResults, s: Settings): Row[] {
  const c = `c=${s.concurrency}`;
  const rows: Row[] = [];
  for (const [label, run] of [['in-process tool', r.local], ['stdio upstream', r.stdio], ['HTTP upstream', r.http]] as const) {
    rows.push({ metric: `bus calls/s, ${label}, ${c}`, direct: undefined, gateway: run.callsPerSecond, digits: 0 });
    rows.push({ metric: `bus call p50, ${label} (ms)`, direct: undefined, gateway: run.latencyMs.p50 });
    rows.push({ metric: `bus errors, ${label}`, direct: undefined, gateway: run.errors, digits: 0 });
  }
  rows.push({ metric: `durable submits acked/s (${s.jobs})`, direct: undefined, gateway: r.submits.acksPerSecond, digits: 0 });
  rows.push({ metric: 'durable submits ended/s', direct: undefined, gateway: r.submits.endsPerSecond, digits: 0 });
  rows.push({ metric: 'durable submits failed', direct: undefined, gateway: r.submits.failed, digits: 0 });
  return rows;
}

function cpuRows(d: TargetResults, g: TargetResults, s: Settings): string {
  const names = Object.keys(d.sdk.cpu);
  const header = ['run (CPU % of one core)', ...names];
  const rows = [
    [`direct, SDK @${s.ratePerSecond}/s`, d.latency.cpu],
    [`mcpbus, SDK @${s.ratePerSecond}/s`, g.latency.cpu],
    ...[...d.rawByRate.keys()].flatMap((rate) => [
      [`direct, raw @${rate}/s`, (d.rawByRate.get(rate) as LatencyOutcome).cpu],
      [`mcpbus, raw @${rate}/s`, (g.rawByRate.get(rate) as LatencyOutcome).cpu],
    ] as const),
    ['direct, SDK max', d.sdk.cpu],
    ['mcpbus, SDK max', g.sdk.cpu],
    ['direct, raw HTTP max', d.raw.cpu],
    ['mcpbus, raw HTTP max', g.raw.cpu],
  ] as const;
  const width = 26;
  const column = Math.max(12, ...names.map((n) => n.length + 2));
  const line = (cells: string[]): string => `${(cells[0] ?? '').padEnd(width)}${cells.slice(1).map((c) => c.padStart(column)).join('')}`;
  return [line(header), ...rows.map(([label, cpu]) => line([label, ...names.map((n) => (cpu[n] === undefined ? '-' : (cpu[n] ?? 0).toFixed(0)))]))].join('\n');
}

const lag = (o: LatencyOutcome): string => `${o.sendLag.p50.toFixed(2)}/${o.sendLag.p99.toFixed(2)}`;

function notes(d: TargetResults, g: TargetResults): string[] {
  const out = [
    `load-generator send lag at the fixed rate (p50/p99 ms, counted in latency): SDK direct ${lag(d.latency)}, mcpbus ${lag(g.latency)}; ${[...d.rawByRate.keys()].map((rate) => `raw @${rate}/s direct ${lag(d.rawByRate.get(rate) as LatencyOutcome)}, mcpbus ${lag(g.rawByRate.get(rate) as LatencyOutcome)}`).join('; ')}`,
  ];
  const others = [d.latency, g.latency, ...d.rawByRate.values(), ...g.rawByRate.values(), d.sdk, g.sdk, d.raw, g.raw].map((o) => o.cpu['other'] ?? 0);
  const worst = Math.max(...others);
  if (worst > 20) out.push(`WARNING: other processes used up to ${worst.toFixed(0)}% of a core during a measured run; those numbers are skewed — rerun on a quiet machine`);
  for (const [label, r] of [['direct', d], ['mcpbus', g]] as const) {
    const raw = [...r.rawByRate].map(([rate, o]) => [`raw @${rate}/s`, o.run.firstError] as const);
    for (const [what, e] of [['fixed rate', r.latency.run.firstError], ...raw, ['SDK throughput', r.sdk.run.firstError], ['raw throughput', r.raw.run.firstError]] as const) {
      if (e !== undefined) out.push(`first error, ${label} ${what}: ${e}`);
    }
  }
  return out;
}

/** The fixture and one mcpbus gateway: direct vs `/mcp` calls, the job path, the bus. */
async function runGatewaySections(s: Settings, childOptions: (name: string) => ChildOptions): Promise<void> {
  log('starting the fixture upstream');
  const fixture = await startFixtureChild(childOptions('fixture'));
  const direct: Target = { label: 'direct', url: fixture.url, headers: {}, echoTool: 'echo', slowTool: 'slow' };
  // The fixture's own start-up JIT is not what "cold" means here: warm it first.
  await warmList(direct, 20);
  const coldDirect = await coldList(direct);

  log(s.split ? 'starting mcpbus (worker, runner, then ingress)' : 'starting mcpbus (ingress + worker + runner)');
  const gw = await startMcpbusChildren(fixture.url, { split: s.split, childOptions });
  const gateway: Target = {
    label: 'mcpbus',
    url: gw.url,
    // Scoped to `fx`, so the gateway lists exactly the tools the fixture does (`jobs` is the same upstream again).
    headers: { Authorization: `Bearer ${BENCH_MASTER_KEY}`, 'x-mcp-servers': FIXTURE_SERVER_NAME },
    echoTool: `${FIXTURE_SERVER_NAME}-echo`,
    slowTool: `${FIXTURE_SERVER_NAME}-slow`,
  };
  // The very first list after start: the worker connects upstream and fills its catalog.
  const coldGateway = await coldList(gateway);
  if (coldGateway.tools !== coldDirect.tools) throw new Error(`mcpbus lists ${coldGateway.tools} tools, the fixture ${coldDirect.tools}`);

  const watched: Watched = { bench: process.pid, fixture: fixture.pid, ...Object.fromEntries(gw.children.map((c) => [c.name, c.pid])), 'nats-server': findPid('nats-server') };
  if (s.only.has('calls')) {
    const d = await measure(direct, s, watched);
    const g = await measure(gateway, s, watched);
    process.stdout.write(`${formatTable(comparisonRows(d, g, { direct: coldDirect.connectAndListMs, gateway: coldGateway.connectAndListMs }, s))}\n\n`);
    process.stdout.write(`${cpuRows(d, g, s)}\n\n`);
    process.stdout.write(`tools/list cold, list only (connect excluded): direct ${coldDirect.listMs.toFixed(2)} ms, mcpbus ${coldGateway.listMs.toFixed(2)} ms\n`);
    process.stdout.write(`${notes(d, g).join('\n')}\n\n`);
  }
  if (s.only.has('jobs')) {
    const jobs = await measureJobs(direct, { ...gateway, headers: { Authorization: `Bearer ${BENCH_MASTER_KEY}` } }, gw.subjectRoot, s);
    process.stdout.write(`Long-running calls: progress relay and the job path\n${formatTable(jobRows(jobs))}\n\n`);
  }
  if (s.only.has('bus')) {
    const bus = await measureBus(gw.subjectRoot, s);
    process.stdout.write(`The bus, without HTTP (an agent platform's view)\n${formatTable(busRows(bus, s))}\n\n`);
  }

  for (const child of [fixture, ...gw.children]) {
    const { count, first } = child.warnings();
    if (count > 0) process.stdout.write(`${child.name} output: ${count} warning line(s), first: ${first ?? ''}\n`);
  }
  for (const child of gw.children) await child.stop();
  await fixture.stop();
  await deleteSubmitStream(gw.subjectRoot, process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222').catch(() => undefined);
}

async function main(): Promise<void> {
  const s = readSettings(process.argv.slice(2));
  const childOptions = (name: string): ChildOptions => {
    if (s.profileDir === undefined) return {};
    // One directory per child: tsx's loader thread writes a profile of its own next to the main one.
    const dir = resolve(s.profileDir, name);
    mkdirSync(dir, { recursive: true });
    return { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir] };
  };
  process.stdout.write(`mcpbus bench — ${new Date().toISOString()}\n${machineInfo().join('\n')}\n`);
  const busy = await machineBusyPercent();
  if (busy !== undefined) {
    const warning = busy > 10 ? ' — something else is running; numbers will be noisy (see the "other" CPU column)' : '';
    process.stdout.write(`machine busy before start: ${busy.toFixed(0)}% of all cores${warning}\n`);
  }
  const limit = fdLimit();
  process.stdout.write(
    `settings: sections ${[...s.only].join(', ')}; rate ${s.ratePerSecond}/s (raw HTTP also at ${s.rates.join(', ')}/s), duration ${s.durationMs / 1000} s, warm-up ${s.warmupMs / 1000} s, concurrency ${s.concurrency} over ${s.clients} SDK clients, mcpbus as ${s.split ? 'three processes (ingress, worker, runner)' : 'one process (ingress + worker + runner)'}; open files limit ${limit?.soft ?? '?'}/${limit?.hard ?? '?'}\n\n`,
  );
  if (s.only.has('calls') || s.only.has('jobs') || s.only.has('bus')) await runGatewaySections(s, childOptions);
  if (s.scale.lists || s.scale.sessions) {
    for (const table of await runScale(s.scale, log)) process.stdout.write(`${table}\n\n`);
  }
  if (s.profileDir !== undefined) process.stdout.write(`CPU profiles in ${s.profileDir} (summarise: tsx test/bench/profile-summary.ts DIR/mcpbus/*.cpuprofile; the largest file is the main thread)\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping children\n`);
    void stopAllChildren(2_000).finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAllChildren(2_000);
    process.exit(1);
  },
);
