import type { Client } from '@modelcontextprotocol/client';
import { closedLoop, connectSdkClient, connectSdkPool, openLoop, rawEchoCallers, sdkEchoCaller, type Caller, type ClosedLoopResult, type OpenLoopResult, type Target } from './load.js';
import { cpuMeter, median, summarize, type Summary } from './stats.js';

/** Processes whose CPU share is reported during the throughput runs (name → pid). */
export type Watched = Record<string, number | undefined>;

export interface LatencyOutcome {
  latency: Summary;
  sendLag: Summary;
  run: OpenLoopResult;
  cpu: Record<string, number | undefined>;
}

type RateOptions = { ratePerSecond: number; durationMs: number; warmupMs: number };

async function meteredOpenLoop(callers: Caller[], options: RateOptions, watched: Watched): Promise<LatencyOutcome> {
  // The warm-up runs outside the CPU window; its calls are not recorded either.
  await openLoop(callers, { ...options, durationMs: options.warmupMs, warmupMs: 0 });
  const meter = cpuMeter(watched);
  const run = await openLoop(callers, { ...options, warmupMs: 0 });
  return { latency: summarize(run.latenciesMs), sendLag: summarize(run.sendLagMs), run, cpu: meter.stop() };
}

export interface ThroughputOutcome {
  run: ClosedLoopResult;
  cpu: Record<string, number | undefined>;
}

export interface ProgressOutcome {
  totalMs: number;
  firstProgressMs: number;
  notifications: number;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const startedAt = performance.now();
  await work();
  return performance.now() - startedAt;
}

/** Cold tools/list as a client sees it: connect (initialize) plus the first list. */
export async function coldList(target: Target): Promise<{ connectAndListMs: number; listMs: number; tools: number }> {
  const startedAt = performance.now();
  const client = await connectSdkClient(target);
  try {
    const listStartedAt = performance.now();
    const { tools } = await client.listTools(undefined, { cacheMode: 'bypass' });
    const endedAt = performance.now();
    return { connectAndListMs: endedAt - startedAt, listMs: endedAt - listStartedAt, tools: tools.length };
  } finally {
    await client.close();
  }
}

/** Median of `count` sequential lists on one connected client (the client cache bypassed). */
export async function warmList(target: Target, count: number): Promise<number> {
  const client = await connectSdkClient(target);
  try {
    for (let i = 0; i < 20; i += 1) await client.listTools(undefined, { cacheMode: 'bypass' });
    const samples: number[] = [];
    for (let i = 0; i < count; i += 1) samples.push(await timed(() => client.listTools(undefined, { cacheMode: 'bypass' })));
    return median(samples);
  } finally {
    await client.close();
  }
}

/** Fixed-rate echo calls spread over `clients` SDK clients. */
export async function latencyAtRate(target: Target, clients: number, options: RateOptions, watched: Watched): Promise<LatencyOutcome> {
  const pool = await connectSdkPool(target, clients);
  try {
    return await meteredOpenLoop(
      pool.clients.map((c) => sdkEchoCaller(c, target)),
      options,
      watched,
    );
  } finally {
    await pool.close();
  }
}

/** Fixed-rate echo calls as raw keep-alive HTTP POSTs (no MCP client cost in the numbers). */
export async function rawLatencyAtRate(target: Target, sockets: number, options: RateOptions, watched: Watched): Promise<LatencyOutcome> {
  const raw = rawEchoCallers(target, sockets);
  try {
    return await meteredOpenLoop(raw.callers, options, watched);
  } finally {
    raw.close();
  }
}

/** Closed-loop echo throughput with SDK clients (`concurrency` in flight over `clients` clients). */
export async function sdkThroughput(target: Target, clients: number, concurrency: number, durationMs: number, warmupMs: number, watched: Watched): Promise<ThroughputOutcome> {
  const pool = await connectSdkPool(target, clients);
  try {
    const callers = pool.clients.map((c) => sdkEchoCaller(c, target));
    // Warm-up outside the CPU window, then the measured run.
    await closedLoop(callers, concurrency, warmupMs, 0);
    const meter = cpuMeter(watched);
    const run = await closedLoop(callers, concurrency, durationMs, 0);
    return { run, cpu: meter.stop() };
  } finally {
    await pool.close();
  }
}

/** Closed-loop echo throughput with raw keep-alive HTTP POSTs, one socket per in-flight call. */
export async function rawThroughput(target: Target, concurrency: number, durationMs: number, warmupMs: number, watched: Watched): Promise<ThroughputOutcome> {
  const raw = rawEchoCallers(target, concurrency);
  try {
    await closedLoop(raw.callers, concurrency, warmupMs, 0);
    const meter = cpuMeter(watched);
    const run = await closedLoop(raw.callers, concurrency, durationMs, 0);
    return { run, cpu: meter.stop() };
  } finally {
    raw.close();
  }
}

async function oneSlowCall(client: Client, target: Target, steps: number, delayMs: number): Promise<ProgressOutcome> {
  const startedAt = performance.now();
  let first = Number.NaN;
  let notifications = 0;
  await client.callTool(
    { name: target.slowTool, arguments: { steps, delayMs } },
    {
      onprogress: () => {
        notifications += 1;
        if (notifications === 1) first = performance.now() - startedAt;
      },
    },
  );
  return { totalMs: performance.now() - startedAt, firstProgressMs: first, notifications };
}

/** `slow` with progress: medians over `runs` sequential calls (one warm-up call first). */
export async function progressRelay(target: Target, runs: number, steps = 20, delayMs = 5): Promise<ProgressOutcome> {
  const client = await connectSdkClient(target);
  try {
    await oneSlowCall(client, target, steps, delayMs);
    const outcomes: ProgressOutcome[] = [];
    for (let i = 0; i < runs; i += 1) outcomes.push(await oneSlowCall(client, target, steps, delayMs));
    return {
      totalMs: median(outcomes.map((o) => o.totalMs)),
      firstProgressMs: median(outcomes.map((o) => o.firstProgressMs)),
      notifications: median(outcomes.map((o) => o.notifications)),
    };
  } finally {
    await client.close();
  }
}
