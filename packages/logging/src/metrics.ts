import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric mcpbus exposes, in one process-wide registry: a process is one scrape target,
 * whichever roles it runs. Labels are bounded by configuration (server names, catalog tool
 * names, error codes, fixed route and state names); never by call id, key or client input.
 * docs/observability.md lists them all.
 */
export const metricsRegistry = new Registry();

/** From 1 ms to 30 min: inline calls take milliseconds, job calls may take many minutes. */
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];
const registers = [metricsRegistry];

export const ingressHttpDuration = new Histogram({
  name: 'mcpbus_ingress_http_request_duration_seconds',
  help: 'HTTP requests served by the ingress, from arrival to the end of the response (SSE streams: their whole life), by route class and status',
  labelNames: ['route', 'status'] as const,
  buckets: SECONDS,
  registers,
});

export const ingressCalls = new Counter({
  name: 'mcpbus_ingress_calls_total',
  help: 'tools/call requests the ingress relayed (MCP, REST, SSE), by server, tool and outcome (ok, tool_error, task, or an error code)',
  labelNames: ['server', 'tool', 'outcome'] as const,
  registers,
});

export const ingressShed = new Counter({
  name: 'mcpbus_ingress_shed_total',
  help: 'requests the ingress refused with 503 because it was answering max_inflight_requests already',
  registers,
});

export const ingressCallDuration = new Histogram({
  name: 'mcpbus_ingress_call_duration_seconds',
  help: 'Time the ingress spent on a tools/call, bus round trip and any wait for a job included, by server, tool and outcome (ok, tool_error, task, error)',
  labelNames: ['server', 'tool', 'outcome'] as const,
  buckets: SECONDS,
  registers,
});

export const busRequestDuration = new Histogram({
  name: 'mcpbus_ingress_bus_request_duration_seconds',
  help: 'NATS request/reply round trips from the ingress to the workers, by operation and outcome (ok or an error code)',
  labelNames: ['op', 'outcome'] as const,
  buckets: SECONDS,
  registers,
});

export const workerCalls = new Counter({
  name: 'mcpbus_worker_calls_total',
  help: 'tools/call requests a worker answered, by server, upstream tool and outcome (ok, tool_error, invalid_arguments, queued, or an error code)',
  labelNames: ['server', 'tool', 'outcome'] as const,
  registers,
});

export const runnerJobs = new Counter({
  name: 'mcpbus_runner_jobs_total',
  help: 'Job attempts a runner finished, by server, upstream tool and outcome (ok, tool_error, cancelled, skipped, retry, or an error code)',
  labelNames: ['server', 'tool', 'outcome'] as const,
  registers,
});

export const runnerJobWait = new Histogram({
  name: 'mcpbus_runner_job_wait_seconds',
  help: 'Time a job waited in the queue before its first attempt started, by server',
  labelNames: ['server'] as const,
  buckets: SECONDS,
  registers,
});

export const upstreamCallDuration = new Histogram({
  name: 'mcpbus_upstream_call_duration_seconds',
  help: 'tools/call requests to upstream MCP servers, by role (worker: inline, runner: job), server, upstream tool and outcome (ok, tool_error, error)',
  labelNames: ['role', 'server', 'tool', 'outcome'] as const,
  buckets: SECONDS,
  registers,
});

export const catalogRefreshes = new Counter({
  name: 'mcpbus_catalog_refreshes_total',
  help: "Fetches of a server's tools/list by a worker's catalog cache, by server and outcome (ok, error)",
  labelNames: ['server', 'outcome'] as const,
  registers,
});

export const catalogTools = new Gauge({
  name: 'mcpbus_catalog_tools',
  help: "Tools in a server's catalog as last fetched",
  labelNames: ['server'] as const,
  registers,
});

/** One server's upstream pool and call lane, as sampled at scrape time. */
export interface UpstreamSample {
  server: string;
  /** Sessions the pool keeps (`pool_size`). */
  poolSize: number;
  connected: number;
  running: number;
  waiting: number;
  circuitOpen: boolean;
}

/** Something that can describe its upstream pools at scrape time: a worker's or a runner's. */
export interface UpstreamSource {
  role: 'worker' | 'runner';
  sample(): Iterable<UpstreamSample>;
}

const upstreamSources = new Set<UpstreamSource>();
/** Several instances of a role in one process (tests) add up; an open circuit anywhere shows. */
function upstreamGauge(name: string, help: string, value: (s: UpstreamSample) => number, combine: (a: number, b: number) => number = (a, b) => a + b): Gauge<'role' | 'server'> {
  return new Gauge({
    name,
    help,
    labelNames: ['role', 'server'] as const,
    registers,
    collect() {
      this.reset();
      const totals = new Map<string, { role: string; server: string; value: number }>();
      for (const source of upstreamSources) {
        for (const s of source.sample()) {
          const id = `${source.role}\u0000${s.server}`;
          const seen = totals.get(id);
          if (seen === undefined) totals.set(id, { role: source.role, server: s.server, value: value(s) });
          else seen.value = combine(seen.value, value(s));
        }
      }
      for (const { role, server, value: v } of totals.values()) this.set({ role, server }, v);
    },
  });
}
upstreamGauge('mcpbus_upstream_pool_size', 'Sessions an upstream pool keeps (pool_size)', (s) => s.poolSize);
upstreamGauge('mcpbus_upstream_sessions_connected', 'Upstream sessions connected right now', (s) => s.connected);
upstreamGauge('mcpbus_upstream_calls_running', 'Upstream calls running right now (bounded by max_concurrent_calls)', (s) => s.running);
upstreamGauge('mcpbus_upstream_calls_waiting', 'Upstream calls waiting for a free slot (bounded by max_queued_calls)', (s) => s.waiting);
upstreamGauge('mcpbus_upstream_circuit_open', "1 while the server's circuit breaker refuses calls, else 0", (s) => (s.circuitOpen ? 1 : 0), Math.max);

/** Registers a role's upstream pools for sampling; returns the function that removes them. */
export function registerUpstreamSource(source: UpstreamSource): () => void {
  upstreamSources.add(source);
  return () => upstreamSources.delete(source);
}

const inFlightSources = new Map<object, { role: string; count: () => number }>();
new Gauge({
  name: 'mcpbus_calls_in_flight',
  help: 'Calls running right now in this process, by role (worker: inline calls, runner: jobs)',
  labelNames: ['role'] as const,
  registers,
  collect() {
    this.reset();
    const totals = new Map<string, number>();
    for (const { role, count } of inFlightSources.values()) totals.set(role, (totals.get(role) ?? 0) + count());
    for (const [role, value] of totals) this.set({ role }, value);
  },
});

/** Registers a role's count of running calls; returns the function that removes it. */
export function registerInFlight(role: 'worker' | 'runner', count: () => number): () => void {
  const key = {};
  inFlightSources.set(key, { role, count });
  return () => inFlightSources.delete(key);
}

/** The BullMQ states counted at scrape time. */
export const JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'waiting-children', 'completed', 'failed'] as const;
/** A scrape never waits longer than this for Redis. */
const QUEUE_SAMPLE_MS = 1_000;
const queueSources = new Map<string, { users: number; count: () => Promise<Record<string, number>> }>();
const queueSampleFailures = new Counter({
  name: 'mcpbus_queue_sample_failures_total',
  help: 'Scrapes at which the job queue (Redis) could not be counted in time; mcpbus_queue_jobs is absent from those',
  registers,
});
new Gauge({
  name: 'mcpbus_queue_jobs',
  help: 'Jobs in the call queue by BullMQ state, counted in Redis at scrape time (the same for every process of a deployment)',
  labelNames: ['state'] as const,
  registers,
  async collect() {
    this.reset();
    // Every role of a process shares one queue per subject root; the first source answers.
    const source = queueSources.values().next().value;
    if (source === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      const counts = await Promise.race([
        source.count(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the job queue did not answer in time')), QUEUE_SAMPLE_MS))),
      ]);
      for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0);
    } catch {
      queueSampleFailures.inc();
    } finally {
      clearTimeout(timer);
    }
  },
});

/**
 * Registers the job queue under `key` (its Redis prefix) for counting at scrape time; roles of
 * one process that use the same queue register it once between them. Returns the remover.
 */
export function registerQueueSource(key: string, count: () => Promise<Record<string, number>>): () => void {
  const known = queueSources.get(key);
  if (known === undefined) queueSources.set(key, { users: 1, count });
  else known.users += 1;
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    const entry = queueSources.get(key);
    if (entry !== undefined && (entry.users -= 1) === 0) queueSources.delete(key);
  };
}

let processMetrics = false;
/** Node's own metrics (CPU, memory, event loop lag, GC, handles), once per process. */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  // The event loop is sampled every 100 ms rather than 10: a blocked loop delays the pending
  // sample all the same, and an idle process is not woken 100 times a second.
  collectDefaultMetrics({ register: metricsRegistry, eventLoopMonitoringPrecision: 100 });
}

/** The Prometheus text exposition of every metric, and its content type. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
}

/** What a worker or runner shows at scrape time. */
export interface RoleGauges {
  /** Its upstream pools and call lanes. */
  upstream(): Iterable<UpstreamSample>;
  /** Calls (worker) or jobs (runner) it is running. */
  inFlight(): number;
  /** The job queue's Redis prefix: roles of one process sharing a queue count it once. */
  queueKey: string;
  queue: { getJobCounts(...states: string[]): Promise<Record<string, number>> };
  /** Whether Redis answers: a scrape does not queue commands on a connection that is down. */
  queueReady(): boolean;
}

/** Registers a worker's or runner's scrape-time gauges; returns the function that removes them. */
export function registerRoleGauges(role: 'worker' | 'runner', gauges: RoleGauges): () => void {
  const removers = [
    registerUpstreamSource({ role, sample: () => gauges.upstream() }),
    registerInFlight(role, () => gauges.inFlight()),
    registerQueueSource(gauges.queueKey, () => (gauges.queueReady() ? gauges.queue.getJobCounts(...JOB_STATES) : Promise.reject(new Error('Redis is not connected')))),
  ];
  return () => {
    for (const remove of removers) remove();
  };
}
