import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { apiKeyHeaders } from '@mcpbus/bus';
import { createSubjects, newCallId, type CallToolRequest } from '@mcpbus/protocol';
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
  let ended = 0;
  let failed = 0;
  let allEnded: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allEnded = resolve));
  const ids = new Set<string>();
  const sub = nc.subscribe(`${subjectRoot}.v1.calls.*.events`, {
    callback: (_err, msg) => {
      const event = msg.json<{ type: string; callId: string; outcome: { ok: boolean } }>();
      if (event.type !== 'result' || !ids.delete(event.callId)) return;
      ended += 1;
      if (!event.outcome.ok) failed += 1;
      if (ended === count) allEnded();
    },
  });
  try {
    await nc.flush();
    const startedAt = performance.now();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        const callId = newCallId();
        ids.add(callId);
        const body: CallToolRequest = { v: 1, callId, server, name: tool, arguments: { text: 'durable' }, progress: false, deadlineAt: Date.now() + 600_000 };
        await js.publish(subjects.submit(server), JSON.stringify(body), { msgID: callId, ...(headers === undefined ? {} : { headers }) });
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    const acksPerSecond = count / ((performance.now() - startedAt) / 1000);
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${ended} of ${count} submissions ended within 120 s`)), 120_000))]);
    return { acksPerSecond, endsPerSecond: count / ((performance.now() - startedAt) / 1000), failed };
  } finally {
    sub.unsubscribe();
    await nc.drain();
  }
}
