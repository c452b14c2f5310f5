import type { ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/client';
import type { ClientCommand, ClientReport } from './sse-clients.js';
import { connectSdkClient, type Target } from './load.js';
import { spawnIpcChild, type BenchChild } from './processes.js';
import { bounded, openSseSession, type SseSession, type SseTarget } from './sse-sessions.js';
import { cpuMeter, openFds, residentKiB, summarize, type Summary } from './stats.js';

const SSE_CLIENTS_MAIN = fileURLToPath(new URL('./sse-clients.ts', import.meta.url));

/** The ingress's memory at one moment: after a full GC (heap probe) and as /proc sees it. */
export interface MemorySnapshot {
  heapUsedKiB: number;
  /** Memory outside the JS heap that V8 accounts for (Buffers, ArrayBuffers). */
  externalKiB: number;
  rssKiB: number;
  fds: number;
}

async function snapshot(ingress: BenchChild): Promise<MemorySnapshot> {
  const heap = await ingress.heap();
  if (heap === undefined) throw new Error('the ingress did not answer the heap probe');
  return {
    heapUsedKiB: heap.heapUsed / 1024,
    externalKiB: heap.external / 1024,
    rssKiB: residentKiB(ingress.pid)?.rssKiB ?? heap.rss / 1024,
    fds: openFds(ingress.pid) ?? Number.NaN,
  };
}

/** Waits until the ingress holds at most `fds` descriptors again (the sessions are gone); ms taken, or NaN. */
async function fdsBackTo(pid: number, fds: number, timeoutMs = 30_000): Promise<number> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < timeoutMs) {
    if ((openFds(pid) ?? 0) <= fds) return performance.now() - startedAt;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Number.NaN;
}

/** Lets closes and timers run their course before a reading (up to ~1 s after a burst, objects are still referenced). */
const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Per-session cost: the difference of two snapshots divided by `n`. */
export interface PerSession {
  n: number;
  heapKiB: number;
  externalKiB: number;
  rssKiB: number;
  fds: number;
}

const perSession = (before: MemorySnapshot, after: MemorySnapshot, n: number): PerSession => ({
  n,
  heapKiB: (after.heapUsedKiB - before.heapUsedKiB) / n,
  externalKiB: (after.externalKiB - before.externalKiB) / n,
  rssKiB: (after.rssKiB - before.rssKiB) / n,
  fds: (after.fds - before.fds) / n,
});

export interface IdleOutcome {
  opened: number;
  failed: number;
  firstError: string | undefined;
  before: MemorySnapshot;
  open: MemorySnapshot;
  closed: MemorySnapshot;
  per: PerSession;
}

/**
 * Memory of `count` idle legacy SSE sessions on the ingress: a GC'd snapshot before, with the
 * sessions open (each got its `endpoint` event, so the server holds it), and after they closed.
 */
export async function idleSseSessions(ingress: BenchChild, target: SseTarget, count: number, settleMs: number): Promise<IdleOutcome> {
  const postAgent = new Agent({ keepAlive: true, maxSockets: 8 });
  const openAll = (n: number): ReturnType<typeof bounded<unknown, SseSession>> => bounded(Array.from({ length: n }), 50, () => openSseSession(target, postAgent));
  // A first small batch warms the code paths up, so what stays is the sessions' own state.
  const fdsAtStart = openFds(ingress.pid) ?? 0;
  for (const s of (await openAll(Math.min(50, count))).ok) s.close();
  await fdsBackTo(ingress.pid, fdsAtStart);
  await settle(settleMs);
  const before = await snapshot(ingress);
  const r = await openAll(count);
  await settle(settleMs);
  const open = await snapshot(ingress);
  for (const s of r.ok) s.close();
  postAgent.destroy();
  await fdsBackTo(ingress.pid, before.fds + 2);
  await settle(settleMs);
  const closed = await snapshot(ingress);
  return { opened: r.ok.length, failed: r.failed, firstError: r.firstError, before, open, closed, per: perSession(before, open, Math.max(1, r.ok.length)) };
}

/**
 * The same for Streamable HTTP SDK clients held open (connected, one `tools/list` each): the
 * 2025-era `/mcp` is stateless, so this shows what, if anything, an idle client costs the ingress.
 */
export async function idleHttpClients(ingress: BenchChild, target: Target, count: number, settleMs: number): Promise<IdleOutcome> {
  const connectAll = (n: number): ReturnType<typeof bounded<unknown, Client>> =>
    bounded(Array.from({ length: n }), 20, async (): Promise<Client> => {
      const client = await connectSdkClient(target);
      await client.listTools(undefined, { cacheMode: 'bypass' });
      return client;
    });
  await Promise.allSettled((await connectAll(Math.min(50, count))).ok.map((c) => c.close()));
  await settle(settleMs);
  const before = await snapshot(ingress);
  const r = await connectAll(count);
  await settle(settleMs);
  const open = await snapshot(ingress);
  await Promise.allSettled(r.ok.map((c) => c.close()));
  await settle(settleMs);
  const closed = await snapshot(ingress);
  return { opened: r.ok.length, failed: r.failed, firstError: r.firstError, before, open, closed, per: perSession(before, open, Math.max(1, r.ok.length)) };
}

function ask(child: ChildProcess, command: ClientCommand | undefined, expect: ClientCommand['type'] | 'ready'): Promise<ClientReport> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ClientReport): void => {
      if (message.type !== expect) return;
      cleanup();
      resolve(message);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`a session client exited (${code ?? 'signal'}) during "${expect}"`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (command !== undefined) child.send(command);
  });
}

/** The merged reports of all client processes for one command. */
export interface Step {
  ok: number;
  failed: number;
  firstError: string | undefined;
  itemMs: Summary;
  wallMs: number;
}

async function step(children: readonly ChildProcess[], commands: readonly ClientCommand[]): Promise<{ step: Step; clientRssKiB: number }> {
  const reports = await Promise.all(children.map((c, i) => ask(c, commands[i], (commands[i] as ClientCommand).type)));
  return {
    step: {
      ok: reports.reduce((n, r) => n + r.ok, 0),
      failed: reports.reduce((n, r) => n + r.failed, 0),
      firstError: reports.find((r) => r.firstError !== undefined)?.firstError,
      itemMs: summarize(reports.flatMap((r) => r.itemMs)),
      wallMs: Math.max(...reports.map((r) => r.wallMs)),
    },
    clientRssKiB: reports.reduce((n, r) => n + r.rss, 0) / 1024,
  };
}

export interface ConcurrentOutcome {
  requested: number;
  clientProcesses: number;
  open: Step;
  ping: Step;
  list: Step;
  listEvery: number;
  before: MemorySnapshot;
  atPeak: MemorySnapshot;
  /** Peak resident memory of the ingress over its life (VmHWM), KiB. */
  peakRssKiB: number;
  closed: MemorySnapshot;
  /** Close of the last session → the ingress's descriptors back to where they were, ms. */
  cleanupMs: number;
  per: PerSession;
  clientRssKiB: number;
  /** CPU % of one core while the sessions were opened. */
  openCpu: Record<string, number | undefined>;
}

export interface ConcurrentOptions {
  count: number;
  clientProcesses: number;
  /** Opens in flight per client process. */
  openConcurrency: number;
  /** Every `listEvery`-th session lists its tools (the others ping). */
  listEvery: number;
  expectTools: number;
  watched: Record<string, number | undefined>;
  settleMs: number;
}

/**
 * `count` concurrent legacy SSE sessions on one ingress, held by `clientProcesses` child
 * processes: time to open them all, then a `ping` round trip on every one (POST → the session →
 * its stream), `tools/list` on every `listEvery`-th, the ingress's memory and descriptors at the
 * peak, and how long it takes to let go of them once the clients disconnect.
 */
export async function concurrentSessions(ingress: BenchChild, target: SseTarget, o: ConcurrentOptions): Promise<ConcurrentOutcome> {
  const children = Array.from({ length: o.clientProcesses }, (_, i) => spawnIpcChild(`sse-clients-${i}`, SSE_CLIENTS_MAIN));
  try {
    await Promise.all(children.map((c) => ask(c, undefined, 'ready')));
    const before = await snapshot(ingress);
    const share = (i: number): number => Math.floor(o.count / o.clientProcesses) + (i < o.count % o.clientProcesses ? 1 : 0);
    const meter = cpuMeter({ ...o.watched, ...Object.fromEntries(children.map((c, i) => [`clients-${i}`, c.pid])) });
    const open = await step(children, children.map((_, i) => ({ type: 'open', target, count: share(i), concurrency: o.openConcurrency })));
    const openCpu = meter.stop();
    const atPeak = await snapshot(ingress);
    const ping = await step(children, children.map(() => ({ type: 'ping', concurrency: 64 })));
    const list = await step(children, children.map(() => ({ type: 'list', every: o.listEvery, concurrency: 16, expectTools: o.expectTools })));
    const peakRssKiB = residentKiB(ingress.pid)?.peakKiB ?? Number.NaN;
    const closedAt = performance.now();
    await step(children, children.map(() => ({ type: 'close' })));
    const cleanupMs = Number.isNaN(await fdsBackTo(ingress.pid, before.fds + 2, 60_000)) ? Number.NaN : performance.now() - closedAt;
    await settle(o.settleMs);
    const closed = await snapshot(ingress);
    return {
      requested: o.count,
      clientProcesses: o.clientProcesses,
      open: open.step,
      ping: ping.step,
      list: list.step,
      listEvery: o.listEvery,
      before,
      atPeak,
      peakRssKiB,
      closed,
      cleanupMs,
      per: perSession(before, atPeak, Math.max(1, open.step.ok)),
      clientRssKiB: open.clientRssKiB,
      openCpu,
    };
  } finally {
    for (const c of children) c.disconnect();
  }
}
