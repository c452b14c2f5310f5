import { afterEach, describe, expect, it } from 'vitest';
import { metricsText, otlpTracesUrl, registerInFlight, registerQueueSource, registerUpstreamSource, startTracing } from '../src/index.js';

const removers: (() => void)[] = [];
afterEach(() => {
  for (const remove of removers.splice(0)) remove();
});

/** The exposition lines of one metric. */
async function linesOf(name: string): Promise<string[]> {
  const { body } = await metricsText();
  return body.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('sampled gauges', () => {
  it('add up the upstream pools of one role across instances, and show an open circuit anywhere', async () => {
    const sample = (connected: number, circuitOpen: boolean) => () => [{ server: 'web', poolSize: 2, connected, running: 1, waiting: 0, circuitOpen }];
    removers.push(registerUpstreamSource({ role: 'worker', sample: sample(2, false) }), registerUpstreamSource({ role: 'worker', sample: sample(1, true) }));
    removers.push(registerUpstreamSource({ role: 'runner', sample: sample(0, false) }));
    expect(await linesOf('mcpbus_upstream_sessions_connected')).toEqual(['mcpbus_upstream_sessions_connected{role="worker",server="web"} 3', 'mcpbus_upstream_sessions_connected{role="runner",server="web"} 0']);
    expect(await linesOf('mcpbus_upstream_circuit_open')).toEqual(['mcpbus_upstream_circuit_open{role="worker",server="web"} 1', 'mcpbus_upstream_circuit_open{role="runner",server="web"} 0']);
    for (const remove of removers.splice(0)) remove();
    expect(await linesOf('mcpbus_upstream_sessions_connected')).toEqual([]);
  });

  it('count running calls by role', async () => {
    removers.push(registerInFlight('worker', () => 2), registerInFlight('worker', () => 3), registerInFlight('runner', () => 1));
    expect(await linesOf('mcpbus_calls_in_flight')).toEqual(['mcpbus_calls_in_flight{role="worker"} 5', 'mcpbus_calls_in_flight{role="runner"} 1']);
  });

  it('count a queue once however many roles share it, and leave it out when it does not answer in time', async () => {
    let asked = 0;
    const counts = () => {
      asked += 1;
      return Promise.resolve({ waiting: 4, active: 1 });
    };
    removers.push(registerQueueSource('bull:q', counts), registerQueueSource('bull:q', counts));
    expect(await linesOf('mcpbus_queue_jobs')).toContain('mcpbus_queue_jobs{state="waiting"} 4');
    expect(asked).toBe(1);
    for (const remove of removers.splice(0)) remove();
    removers.push(registerQueueSource('bull:q', () => new Promise(() => undefined)));
    const started = Date.now();
    expect(await linesOf('mcpbus_queue_jobs')).toEqual([]);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await linesOf('mcpbus_queue_sample_failures_total')).toEqual(['mcpbus_queue_sample_failures_total 1']);
  });
});

describe('tracing set-up', () => {
  it('is off without an OTLP endpoint, or when the SDK is disabled', async () => {
    expect((await startTracing({ env: {}, serviceName: 'x' })).enabled).toBe(false);
    expect((await startTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }, serviceName: 'x' })).enabled).toBe(false);
  });

  it('sends spans to /v1/traces under the endpoint, or to the traces endpoint as given', () => {
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/otlp/v1/traces' })).toBe('http://tempo:4318/otlp/v1/traces');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBeUndefined();
  });
});
