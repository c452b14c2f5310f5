import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { startHealthServer } from '@mcpbus/cli';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { legacyRpc, responseOf } from '../harness/raw-mcp.js';

let http: FixtureHttpHandle;
let gateway: TestGateway;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({
    servers: {
      web: { url: http.url },
      jobs: { url: http.url, execution: 'job' },
      // Times out fast and opens its circuit after two timeouts in a row.
      hangs: { url: http.url, timeout_ms: 150, circuit_breaker_failures: 2 },
    },
    runners: 1,
    inProcess: "reads every role's counters from one process's Prometheus registry (the ingress's /metrics, and a health server started in this test process); as separate processes each counts only its own share",
  });
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

const call = (name: string, args: Record<string, unknown>) => legacyRpc(gateway.url, gateway.headers, 'tools/call', { name, arguments: args }).then(responseOf);
const metricsUrl = (): string => gateway.url.replace(/\/mcp$/, '/metrics');

async function scrape(url: string, headers: Record<string, string> = gateway.headers): Promise<string> {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key as string] = value as string;
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels` (undefined when there is none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

describe('/metrics', () => {
  it('counts calls by server, tool and outcome, and times them at the ingress, on the bus and upstream', async () => {
    expect((await call('web-echo', { text: 'one' })).result).toBeDefined();
    expect((await call('web-echo', { text: 'two' })).result).toBeDefined();
    expect((await call('web-echo', {})).result?.['isError']).toBe(true); // bad arguments
    expect((await call('web-no-such-tool-8f3a', {})).error).toBeDefined();
    expect((await call('nosuchserver-echo', {})).error).toBeDefined();
    expect((await call('jobs-echo', { text: 'as a job' })).result).toBeDefined();

    const text = await scrape(metricsUrl());
    const samples = parse(text);
    const at = (name: string, labels: Record<string, string>) => valueOf(samples, name, labels);

    // The ingress: every door's tools/call, by outcome.
    expect(at('mcpbus_ingress_calls_total', { server: 'web', tool: 'echo', outcome: 'ok' })).toBe(2);
    expect(at('mcpbus_ingress_calls_total', { server: 'web', tool: 'echo', outcome: 'tool_error' })).toBe(1);
    expect(at('mcpbus_ingress_calls_total', { server: 'jobs', tool: 'echo', outcome: 'ok' })).toBe(1);
    expect(at('mcpbus_ingress_calls_total', { server: '_unresolved', tool: '_unresolved', outcome: 'unknown_tool' })).toBe(2);
    expect(at('mcpbus_ingress_call_duration_seconds_count', { server: 'web', tool: 'echo', outcome: 'ok' })).toBe(2);
    expect(at('mcpbus_ingress_call_duration_seconds_sum', { server: 'web', tool: 'echo', outcome: 'ok' })).toBeGreaterThan(0);
    expect(at('mcpbus_ingress_call_duration_seconds_bucket', { server: 'web', tool: 'echo', outcome: 'ok', le: '+Inf' })).toBe(2);
    expect(at('mcpbus_ingress_bus_request_duration_seconds_count', { op: 'tools/call', outcome: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(at('mcpbus_ingress_bus_request_duration_seconds_count', { op: 'tools/call', outcome: 'unknown_tool' })).toBe(1);
    expect(at('mcpbus_ingress_http_request_duration_seconds_count', { route: 'mcp', status: '200' })).toBeGreaterThanOrEqual(6);

    // The worker: calls by upstream tool name; a job is "queued" there and counted by the runner.
    expect(at('mcpbus_worker_calls_total', { server: 'web', tool: 'echo', outcome: 'ok' })).toBe(2);
    expect(at('mcpbus_worker_calls_total', { server: 'web', tool: 'echo', outcome: 'invalid_arguments' })).toBe(1);
    expect(at('mcpbus_worker_calls_total', { server: 'web', tool: '_unresolved', outcome: 'unknown_tool' })).toBe(1);
    expect(at('mcpbus_worker_calls_total', { server: 'jobs', tool: 'echo', outcome: 'queued' })).toBe(1);
    expect(at('mcpbus_runner_jobs_total', { server: 'jobs', tool: 'echo', outcome: 'ok' })).toBe(1);
    expect(at('mcpbus_runner_job_wait_seconds_count', { server: 'jobs' })).toBe(1);
    expect(at('mcpbus_upstream_call_duration_seconds_count', { role: 'worker', server: 'web', tool: 'echo', outcome: 'ok' })).toBe(2);
    expect(at('mcpbus_upstream_call_duration_seconds_count', { role: 'runner', server: 'jobs', tool: 'echo', outcome: 'ok' })).toBe(1);

    // Sampled at scrape time: pools, the job queue, the catalog.
    expect(at('mcpbus_upstream_pool_size', { role: 'worker', server: 'web' })).toBe(1);
    expect(at('mcpbus_upstream_sessions_connected', { role: 'worker', server: 'web' })).toBe(1);
    expect(at('mcpbus_upstream_sessions_connected', { role: 'runner', server: 'jobs' })).toBe(1);
    expect(at('mcpbus_upstream_circuit_open', { role: 'worker', server: 'web' })).toBe(0);
    expect(at('mcpbus_upstream_calls_running', { role: 'worker', server: 'web' })).toBe(0);
    expect(at('mcpbus_calls_in_flight', { role: 'worker' })).toBe(0);
    expect(at('mcpbus_queue_jobs', { state: 'completed' })).toBe(1);
    expect(at('mcpbus_queue_jobs', { state: 'waiting' })).toBe(0);
    expect(at('mcpbus_catalog_refreshes_total', { server: 'web', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(at('mcpbus_catalog_tools', { server: 'web' })).toBeGreaterThan(5);

    // Node's own.
    expect(at('process_cpu_user_seconds_total', {})).toBeGreaterThan(0);
    expect(at('nodejs_heap_size_used_bytes', {})).toBeGreaterThan(0);

    // What a client sends never becomes a label, and no key or call id shows.
    expect(text).not.toContain('no-such-tool');
    expect(text).not.toContain('nosuchserver');
    expect(text).not.toContain(MASTER_KEY);
    expect(samples.some((s) => 'callId' in s.labels || 'call_id' in s.labels)).toBe(false);
  });

  it("shows an upstream's open circuit and its timed-out calls", async () => {
    for (let i = 0; i < 2; i += 1) expect((await call('hangs-sleep', { ms: 1_000 })).error?.code).toBe(-32001);
    const samples = parse(await scrape(metricsUrl()));
    expect(valueOf(samples, 'mcpbus_upstream_circuit_open', { role: 'worker', server: 'hangs' })).toBe(1);
    expect(valueOf(samples, 'mcpbus_ingress_calls_total', { server: 'hangs', tool: 'sleep', outcome: 'upstream_timeout' })).toBe(2);
    expect(valueOf(samples, 'mcpbus_upstream_call_duration_seconds_count', { role: 'worker', server: 'hangs', tool: 'sleep', outcome: 'error' })).toBe(2);
  });

  it('answers on the ingress only to the master key', async () => {
    expect((await fetch(metricsUrl())).status).toBe(401);
    expect((await fetch(metricsUrl(), { headers: { Authorization: 'Bearer sk-wrong' } })).status).toBe(401);
    const generated = await fetch(gateway.url.replace(/\/mcp$/, '/key/generate'), { method: 'POST', headers: { ...gateway.headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ key_alias: 'metrics-reader' }) });
    const { key } = (await generated.json()) as { key: string };
    expect((await fetch(metricsUrl(), { headers: { Authorization: `Bearer ${key}` } })).status).toBe(403);
  });

  it('answers on the health port without a key', async () => {
    const health = await startHealthServer(0, '127.0.0.1', () => true);
    try {
      const samples = parse(await scrape(`http://127.0.0.1:${health.port}/metrics`, {}));
      expect(valueOf(samples, 'mcpbus_worker_calls_total', { server: 'web', tool: 'echo', outcome: 'ok' })).toBe(2);
    } finally {
      await health.close();
    }
  });
});
