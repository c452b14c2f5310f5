import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { apiKeyHeaders } from '@mcpbus/bus';
import { createSubjects, newCallId, type CallToolRequest } from '@mcpbus/protocol';
import { watchEnds } from './jobs.js';
import { summarize, type Summary } from './stats.js';

export interface BusRun {
  callsPerSecond: number;
  latencyMs: Summary;
  errors: number;
  firstError?: string;
}

/**
 * Closed-loop request/reply calls straight on the bus (`tools.call.<server>`), as an agent
 * platform makes them: `inFlight` at a time for `durationMs` after `warmupMs`, each with the key
 * header. No HTTP anywhere.
 */
export async function busRequestReply(natsUrl: string, apiKey: string, subjectRoot: string, server: string, tool: string, inFlight: number, durationMs: number, warmupMs: number): Promise<BusRun> {
  const nc: NatsConnection = await connect({ servers: natsUrl, name: 'mcpbus-bench-bus' });
  const subject = createSubjects(subjectRoot).toolsCall(server);
  const headers = apiKeyHeaders(apiKey);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let recording = false;
  let stopAt = Number.POSITIVE_INFINITY;
  const lane = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const body: CallToolRequest = { v: 1, callId: newCallId(), server, name: tool, arguments: { text: 'bus' }, progress: false, deadlineAt: Date.now() + 30_000 };
      const startedAt = performance.now();
      try {
        const reply = (await nc.request(subject, JSON.stringify(body), { timeout: 30_000, ...(headers === undefined ? {} : { headers }) })).json<{ ok: boolean; error?: { message: string } }>();
        if (!reply.ok) throw new Error(reply.error?.message ?? 'error reply');
        if (recording) latencies.push(performance.now() - startedAt);
      } catch (err: unknown) {
        if (recording) errors += 1;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  try {
    stopAt = performance.now() + warmupMs;
    await Promise.all(Array.from({ length: inFlight }, lane));
    recording = true;
    const startedAt = performance.now();
    stopAt = startedAt + durationMs;
    await Promise.all(Array.from({ length: inFlight }, lane));
    const seconds = (performance.now() - startedAt) / 1000;
    const run: BusRun = { callsPerSecond: latencies.length / seconds, latencyMs: summarize(latencies), errors };
    if (firstError !== undefined) run.firstError = firstError;
    return run;
  } finally {
    await nc.drain();
  }
}

/** Durable submissions acknowledged by JetStream per second (`inFlight` publishes at a time), and how many ended within `endWithinMs`. */
export async function durableSubmits(natsUrl: string, apiKey: string, subjectRoot: string, server: string, tool: string, count: number, inFlight: number): Promise<{ acksPerSecond: number; endsPerSecond: number; failed: number }> {
  const nc: NatsConnection = await connect({ servers: natsUrl, name: 'mcpbus-bench-submit' });
  const subjects = createSubjects(subjectRoot);
  const js = jetstream(nc);
  const headers = apiKeyHeaders(apiKey);
  const ends = watchEnds(nc, subjectRoot, count);
  try {
    await nc.flush();
    const startedAt = performance.now();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        const callId = newCallId();
        ends.expect(callId);
        const body: CallToolRequest = { v: 1, callId, server, name: tool, arguments: { text: 'durable' }, progress: false, deadlineAt: Date.now() + 600_000 };
        await js.publish(subjects.submit(server), JSON.stringify(body), { msgID: callId, ...(headers === undefined ? {} : { headers }) });
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    const acksPerSecond = count / ((performance.now() - startedAt) / 1000);
    await ends.all('submissions');
    return { acksPerSecond, endsPerSecond: count / ((performance.now() - startedAt) / 1000), failed: ends.failed() };
  } finally {
    ends.close();
    await nc.drain();
  }
}
