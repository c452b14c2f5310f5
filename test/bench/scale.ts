import { randomBytes } from 'node:crypto';
import type { Target } from './load.js';
import { busListBytes, directLists, gatewayLists, type ListExpectation, type ListOutcome } from './lists.js';
import { HANG_PATH, upstreamPath } from './many-tools-server.js';
import { BENCH_MASTER_KEY, freePort, startManyToolsChild, startMcpbusProcesses, writeConfigFile, type BenchChild } from './processes.js';
import { concurrentSessions, idleHttpClients, idleSseSessions, type ConcurrentOutcome, type IdleOutcome, type MemorySnapshot } from './sessions.js';
import { fdLimit, findPid } from './stats.js';

/** What the scale sections run: `tools/list` across many upstreams, and sessions on one ingress. */
export interface ScaleSettings {
  lists: boolean;
  sessions: boolean;
  upstreams: number;
  toolsPerServer: number;
  listDeadlineMs: number;
  warmLists: number;
  /** Lists with an upstream that hangs: each takes the deadline, so fewer. */
  hungLists: number;
  idleSessions: number;
  /** Streamable HTTP SDK clients held open for the same reading (slow to connect, and stateless). */
  idleHttpClients: number;
  /** Pause before each memory reading, so closes and timers have run. */
  settleMs: number;
  concurrentSessions: number;
  sessionClients: number;
}

const SEPARATOR = '-';
/** The broken upstreams, by how they fail. */
const DEAD = {
  closed: 'deadclosed',
  silent: 'deadsilent',
  hang: 'deadhang',
} as const;

const serverName = (i: number): string => `m${String(i).padStart(2, '0')}`;

interface Setup {
  many: Awaited<ReturnType<typeof startManyToolsChild>>;
  ingress: BenchChild;
  worker: BenchChild;
  children: BenchChild[];
  url: string;
  subjectRoot: string;
  /** The upstreams the measurements list. */
  live: string[];
  /** Twice as many, for one list too large for the bus. */
  all: string[];
}

/**
 * The many-tools upstreams, and mcpbus as two processes (ingress alone, so its memory is the
 * ingress's; and a worker) mounting them plus one upstream of each broken kind.
 */
async function setUp(s: ScaleSettings, log: (line: string) => void): Promise<Setup> {
  log(`starting ${s.upstreams} upstreams × ${s.toolsPerServer} tools, and mcpbus (ingress, worker)`);
  const many = await startManyToolsChild(2 * s.upstreams, s.toolsPerServer);
  const closedPort = await freePort();
  const base = `http://127.0.0.1:${many.port}`;
  const all = Array.from({ length: 2 * s.upstreams }, (_, i) => serverName(i));
  const live = all.slice(0, s.upstreams);
  const subjectRoot = `bench${randomBytes(6).toString('hex')}`;
  const configPath = writeConfigFile({
    mcp_servers: {
      ...Object.fromEntries(all.map((name, i) => [name, { url: `${base}${upstreamPath(i)}` }])),
      // Nothing listens there: connection refused.
      [DEAD.closed]: { url: `http://127.0.0.1:${closedPort}/mcp` },
      // Accepts the TCP connection, never answers a byte.
      [DEAD.silent]: { url: `http://127.0.0.1:${many.silentPort}/mcp` },
      // An MCP server that initialises but never answers tools/list.
      [DEAD.hang]: { url: `${base}${HANG_PATH}` },
    },
    general_settings: { master_key: BENCH_MASTER_KEY },
    mcpbus_settings: { subject_root: subjectRoot, list_deadline_ms: s.listDeadlineMs, max_sse_sessions: Math.max(s.concurrentSessions, s.idleSessions) + 1_000 },
  });
  const { url, children } = await startMcpbusProcesses(configPath, [{ name: 'mcpbus-worker', roles: ['worker'] }], { name: 'mcpbus-ingress', roles: ['ingress'] }, (name) => (name === 'mcpbus-ingress' ? { heapProbe: true } : {}));
  const [ingress, worker] = children as [BenchChild, BenchChild];
  return { many, ingress, worker, children, url, subjectRoot, live, all };
}

interface ListResults {
  direct: ListOutcome;
  warm: ListOutcome;
  closed: ListOutcome;
  silent: ListOutcome;
  hang: ListOutcome;
  double: ListOutcome;
  bus: { bytes: number; maxPayload: number };
}

async function measureLists(setup: Setup, s: ScaleSettings, log: (line: string) => void): Promise<ListResults> {
  const target = (dead: string | undefined, live = setup.live): Target => ({
    label: 'mcpbus',
    url: setup.url,
    headers: { Authorization: `Bearer ${BENCH_MASTER_KEY}`, 'x-mcp-servers': [...live, ...(dead === undefined ? [] : [dead])].join(',') },
    echoTool: '',
    slowTool: '',
  });
  const expect = (dead: string | undefined, live = setup.live): ListExpectation => ({ live, toolsPerServer: s.toolsPerServer, separator: SEPARATOR, dead });
  const urls = setup.live.map((_, i) => `http://127.0.0.1:${setup.many.port}${upstreamPath(i)}`);
  log(`tools/list ×${s.warmLists}: ${s.upstreams} upstreams directly (in parallel), then through mcpbus`);
  const direct = await directLists(urls, s.warmLists, 5, s.toolsPerServer);
  const warm = await gatewayLists(target(undefined), s.warmLists, 5, expect(undefined));
  log(`tools/list ×${s.warmLists} with a dead upstream (closed port)`);
  const closed = await gatewayLists(target(DEAD.closed), s.warmLists, 1, expect(DEAD.closed));
  log(`tools/list ×${s.hungLists} with an upstream that accepts TCP and never answers (deadline ${s.listDeadlineMs} ms)`);
  const silent = await gatewayLists(target(DEAD.silent), s.hungLists, 0, expect(DEAD.silent));
  log(`tools/list ×${s.hungLists} with an upstream that never answers tools/list`);
  const hang = await gatewayLists(target(DEAD.hang), s.hungLists, 0, expect(DEAD.hang));
  log(`tools/list ×3 of ${setup.all.length} upstreams (${setup.all.length * s.toolsPerServer} tools)`);
  const double = await gatewayLists(target(undefined, setup.all), 3, 0, expect(undefined, setup.all));
  const bus = await busListBytes(process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', BENCH_MASTER_KEY, setup.subjectRoot, setup.live);
  return { direct, warm, closed, silent, hang, double, bus };
}

const ms = (v: number): string => (Number.isNaN(v) ? '-' : v.toFixed(v >= 100 ? 0 : 2));

function listTable(r: ListResults, s: ScaleSettings): string {
  const rows: [string, ListOutcome][] = [
    [`direct: ${s.upstreams} SDK clients listing in parallel`, r.direct],
    ['mcpbus, all upstreams up', r.warm],
    ['mcpbus + 1 dead upstream: port closed', r.closed],
    ['mcpbus + 1 dead: accepts TCP, never answers', r.silent],
    ['mcpbus + 1 dead: initialises, tools/list hangs', r.hang],
    [`mcpbus, ${2 * s.upstreams} upstreams (${2 * s.upstreams * s.toolsPerServer} tools), all up`, r.double],
  ];
  const head = `tools/list, ${s.upstreams} upstreams × ${s.toolsPerServer} tools, list_deadline_ms ${s.listDeadlineMs}`;
  const width = Math.max(head.length, ...rows.map(([label]) => label.length)) + 2;
  const line = (cells: string[]): string => `${(cells[0] ?? '').padEnd(width)}${cells.slice(1).map((c, i) => c.padStart(i === 5 ? 10 : 8)).join('')}`;
  const out = [line([head, 'n', 'p50 ms', 'p99 ms', 'tools', 'pages', 'complete'])];
  for (const [label, o] of rows) out.push(line([label, String(o.count), ms(o.latency.p50), ms(o.latency.p99), String(o.tools), String(o.pages), `${o.complete}/${o.count}`]));
  for (const [label, o] of rows) {
    if (o.failure !== undefined) out.push(`  ${label}: the dead server reported as ${o.failure.slice(0, 160)}`);
    if (o.firstProblem !== undefined) out.push(`  ${label}: INCOMPLETE — ${o.firstProblem}`);
  }
  const perTool = r.bus.bytes / (s.upstreams * s.toolsPerServer);
  out.push(`worker → ingress reply for the ${s.upstreams * s.toolsPerServer}-tool list: ${(r.bus.bytes / 1024).toFixed(0)} KiB of NATS max_payload ${(r.bus.maxPayload / 1024).toFixed(0)} KiB (~${perTool.toFixed(0)} B per tool: ~${Math.floor(r.bus.maxPayload / perTool)} such tools fit in one list)`);
  return out.join('\n');
}

interface SessionResults {
  sse: IdleOutcome;
  http: IdleOutcome;
  concurrent: ConcurrentOutcome;
}

async function measureSessions(setup: Setup, s: ScaleSettings, log: (line: string) => void): Promise<SessionResults> {
  const port = Number(new URL(setup.url).port);
  // Scoped to one upstream: its lists are 50 tools.
  const sseTarget = { host: '127.0.0.1', port, headers: { Authorization: `Bearer ${BENCH_MASTER_KEY}`, 'x-mcp-servers': setup.live[0] ?? '' } };
  log(`memory of ${s.idleSessions} idle legacy SSE sessions on the ingress`);
  const sse = await idleSseSessions(setup.ingress, sseTarget, s.idleSessions, s.settleMs);
  log(`memory of ${s.idleHttpClients} connected Streamable HTTP SDK clients`);
  const http = await idleHttpClients(setup.ingress, { label: 'mcpbus', url: setup.url, headers: sseTarget.headers, echoTool: '', slowTool: '' }, s.idleHttpClients, s.settleMs);
  log(`${s.concurrentSessions} concurrent legacy SSE sessions over ${s.sessionClients} client processes`);
  const listEvery = 20;
  const watched = { ingress: setup.ingress.pid, worker: setup.worker.pid, 'nats-server': findPid('nats-server') };
  const concurrent = await concurrentSessions(setup.ingress, sseTarget, { count: s.concurrentSessions, clientProcesses: s.sessionClients, openConcurrency: 64, listEvery, expectTools: s.toolsPerServer, watched, settleMs: s.settleMs });
  return { sse, http, concurrent };
}

const kib = (v: number): string => (Number.isNaN(v) ? '-' : v.toFixed(1));
const mib = (k: number): string => (k / 1024).toFixed(1);
const snap = (m: MemorySnapshot): string => `RSS ${mib(m.rssKiB)} MiB, heap ${mib(m.heapUsedKiB)} MiB, external ${mib(m.externalKiB)} MiB, ${m.fds} fds`;

function sessionTable(r: SessionResults, s: ScaleSettings): string {
  const head = 'idle sessions on one ingress (full GC before each reading)';
  const rows: [string, IdleOutcome][] = [
    ['legacy SSE sessions (GET /sse, endpoint received)', r.sse],
    ['Streamable HTTP SDK clients (connected + 1 list)', r.http],
  ];
  const width = Math.max(head.length, ...rows.map(([l]) => l.length)) + 2;
  const line = (cells: string[]): string => `${(cells[0] ?? '').padEnd(width)}${cells.slice(1).map((c) => c.padStart(11)).join('')}`;
  const out = [line(['', '', '', 'per session', '', '', 'after close']), line([head, 'n', 'heap KiB', 'extern KiB', 'RSS KiB', 'fds', 'heap kept'])];
  for (const [label, o] of rows) {
    const kept = o.closed.heapUsedKiB - o.before.heapUsedKiB;
    out.push(line([label, `${o.opened}/${o.opened + o.failed}`, kib(o.per.heapKiB), kib(o.per.externalKiB), kib(o.per.rssKiB), o.per.fds.toFixed(2), `${kept.toFixed(0)} KiB`]));
    if (o.firstError !== undefined) out.push(`  first error: ${o.firstError}`);
  }
  out.push('(per session: (with the sessions open − before) ÷ n; heap kept: after they closed − before, all of them together)');
  const c = r.concurrent;
  const limit = fdLimit();
  const rate = (c.open.ok * 1000) / c.open.wallMs;
  const cpu = Object.entries(c.openCpu)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${(v ?? 0).toFixed(0)}%`)
    .join(', ');
  out.push(
    '',
    `${c.requested} concurrent legacy SSE sessions on one ingress (${c.clientProcesses} client processes, ${64 * c.clientProcesses} opens in flight; ulimit -n ${limit?.soft ?? '?'} soft / ${limit?.hard ?? '?'} hard)`,
    `  opened (endpoint event received)  ${c.open.ok}/${c.requested} in ${(c.open.wallMs / 1000).toFixed(1)} s (${rate.toFixed(0)}/s); per session p50 ${ms(c.open.itemMs.p50)} ms, p99 ${ms(c.open.itemMs.p99)} ms${c.open.failed > 0 ? `; ${c.open.failed} failed, first: ${c.open.firstError ?? ''}` : ''}`,
    `  ping on every session             ${c.ping.ok}/${c.open.ok} answered on its stream in ${(c.ping.wallMs / 1000).toFixed(1)} s; p50 ${ms(c.ping.itemMs.p50)} ms, p99 ${ms(c.ping.itemMs.p99)} ms${c.ping.failed > 0 ? `; ${c.ping.failed} failed, first: ${c.ping.firstError ?? ''}` : ''}`,
    `  tools/list on every ${c.listEvery}th session     ${c.list.ok}/${c.list.ok + c.list.failed} with all ${s.toolsPerServer} tools; p50 ${ms(c.list.itemMs.p50)} ms, p99 ${ms(c.list.itemMs.p99)} ms${c.list.failed > 0 ? `; first failure: ${c.list.firstError ?? ''}` : ''}`,
    `  ingress before                    ${snap(c.before)}`,
    `  ingress with the sessions open    ${snap(c.atPeak)}; peak RSS ${mib(c.peakRssKiB)} MiB`,
    `  per session                       heap ${kib(c.per.heapKiB)} KiB, external ${kib(c.per.externalKiB)} KiB, RSS ${kib(c.per.rssKiB)} KiB, ${c.per.fds.toFixed(2)} fds`,
    `  after the clients disconnected    ${snap(c.closed)}; descriptors back in ${Number.isNaN(c.cleanupMs) ? 'NOT within 60 s' : `${(c.cleanupMs / 1000).toFixed(1)} s`}`,
    `  CPU while opening (% of a core)   ${cpu}`,
    `  client processes' RSS             ${mib(c.clientRssKiB)} MiB in all`,
  );
  return out.join('\n');
}

/** Runs the selected scale sections on their own upstreams and mcpbus processes; returns their tables. */
export async function runScale(s: ScaleSettings, log: (line: string) => void): Promise<string[]> {
  const setup = await setUp(s, log);
  try {
    const out: string[] = [];
    if (s.lists) out.push(listTable(await measureLists(setup, s, log), s));
    if (s.sessions) out.push(sessionTable(await measureSessions(setup, s, log), s));
    for (const child of setup.children) {
      const { count, first } = child.warnings();
      if (count > 0) out.push(`${child.name} output: ${count} warning line(s), first: ${first ?? ''}`);
    }
    return out;
  } finally {
    for (const child of setup.children) await child.stop();
    await setup.many.child.stop();
  }
}
