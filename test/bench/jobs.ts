import { connect, type NatsConnection } from '@nats-io/transport-node';
import { apiKeyHeaders } from '@mcpbus/bus';
import { createSubjects, newCallId, type CallToolRequest, type TaskInfo } from '@mcpbus/protocol';
import { connectSdkClient, type Target } from './load.js';
import { median, summarize, type Summary } from './stats.js';

/** Upstream progress → client: one sample per notification, from the send time the fixture stamps into it. */
export interface ProgressLatency {
  relay: Summary;
  /** Medians over the runs: call sent → first progress, and → result. */
  firstProgressMs: number;
  resultMs: number;
  notifications: number;
}

/**
 * `runs` sequential calls of the stamping `slow` tool with a progress token on one SDK client.
 * Fixture, gateway and bench share a machine and a clock (performance.timeOrigin + now), so the
 * difference between a notification's stamp and its arrival is the relay time.
 */
export async function progressLatency(target: Target, tool: string, runs: number, steps = 20, delayMs = 5): Promise<ProgressLatency> {
  const client = await connectSdkClient(target);
  const relay: number[] = [];
  const first: number[] = [];
  const result: number[] = [];
  const counts: number[] = [];
  try {
    for (let run = -1; run < runs; run += 1) {
      const startedAt = performance.now();
      let firstAt = Number.NaN;
      let count = 0;
      const samples: number[] = [];
      await client.callTool(
        { name: tool, arguments: { steps, delayMs, stamp: true } },
        {
          onprogress: (p) => {
            const now = performance.timeOrigin + performance.now();
            count += 1;
            if (count === 1) firstAt = performance.now() - startedAt;
            const sent = Number(/^sent (\S+)$/.exec(p.message ?? '')?.[1]);
            if (Number.isFinite(sent)) samples.push(now - sent);
          },
          timeout: 60_000,
        },
      );
      if (run < 0) continue; // warm-up
      relay.push(...samples);
      first.push(firstAt);
      result.push(performance.now() - startedAt);
      counts.push(count);
    }
  } finally {
    await client.close();
  }
  return { relay: summarize(relay), firstProgressMs: median(first), resultMs: median(result), notifications: median(counts) };
}

export interface JobThroughput {
  jobs: number;
  jobsPerSecond: number;
  /** Submit → task accepted (worker validated it and queued it), per job. */
  acceptMs: Summary;
  /** Submit → end announced on the bus, per job. */
  endMs: Summary;
  failed: number;
}

/**
 * Jobs straight through the bus, as an agent platform would submit them: `count` task-augmented
 * echo calls, `inFlight` at a time, each followed to its end event. Measures the job engine
 * (worker validation and enqueue, BullMQ, runner, upstream call) without HTTP in front.
 */
export async function jobThroughput(natsUrl: string, apiKey: string, subjectRoot: string, server: string, tool: string, count: number, inFlight: number): Promise<JobThroughput> {
  const nc: NatsConnection = await connect({ servers: natsUrl, name: 'mcpbus-bench-jobs' });
  const subjects = createSubjects(subjectRoot);
  const accept: number[] = [];
  const ends = watchEnds(nc, subjectRoot, count);
  await nc.flush();
  const startedAt = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const callId = newCallId();
      const body: CallToolRequest = { v: 1, callId, server, name: tool, arguments: { text: 'job' }, progress: false, deadlineAt: Date.now() + 30_000, task: {} };
      const at = performance.now();
      ends.expect(callId);
      const reply = (await nc.request(subjects.toolsCall(server), JSON.stringify(body), { timeout: 30_000, headers: apiKeyHeaders(apiKey) })).json<{ ok: boolean; task?: TaskInfo }>();
      if (!reply.ok || reply.task === undefined) throw new Error(`job refused: ${JSON.stringify(reply)}`);
      accept.push(performance.now() - at);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  await ends.all('jobs');
  const seconds = (performance.now() - startedAt) / 1000;
  ends.close();
  await nc.drain();
  return { jobs: count, jobsPerSecond: count / seconds, acceptMs: summarize(accept), endMs: summarize(ends.endMs), failed: ends.failed() };
}

/**
 * Follows the end events of `count` calls on the bus (subscribe before submitting): each call is
 * announced with `expect` just before it is sent, and its submit → end time is kept.
 */
export function watchEnds(nc: NatsConnection, subjectRoot: string, count: number): { expect(callId: string): void; all(what: string): Promise<void>; endMs: number[]; failed(): number; close(): void } {
  const sentAt = new Map<string, number>();
  const endMs: number[] = [];
  let failed = 0;
  let allEnded: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allEnded = resolve));
  const sub = nc.subscribe(`${subjectRoot}.v1.calls.*.events`, {
    callback: (_err, msg) => {
      const event = msg.json<{ type: string; callId: string; outcome: { ok: boolean } }>();
      const at = event.type === 'result' ? sentAt.get(event.callId) : undefined;
      if (at === undefined) return;
      sentAt.delete(event.callId);
      endMs.push(performance.now() - at);
      if (!event.outcome.ok) failed += 1;
      if (endMs.length === count) allEnded();
    },
  });
  return {
    expect: (callId) => void sentAt.set(callId, performance.now()),
    all: (what) => Promise.race([done, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`only ${endMs.length} of ${count} ${what} ended within 120 s`)), 120_000).unref())]),
    endMs,
    failed: () => failed,
    close: () => sub.unsubscribe(),
  };
}

export interface JobPickup {
  /** Reply received (the job is queued) → first progress event, per job. */
  enqueueToFirstProgressMs: Summary;
  /** Reply received → the job's end event, per job. */
  enqueueToResultMs: Summary;
}

/**
 * Sequential jobs on an idle queue, watched on the bus like a platform would: each is a
 * task-augmented call of `slow` with one step and no delay, so the upstream reports progress at
 * once. Times run from the worker's reply (the job is queued) to the first progress event and
 * to the end event.
 */
export async function jobPickup(natsUrl: string, apiKey: string, subjectRoot: string, server: string, runs: number): Promise<JobPickup> {
  const nc: NatsConnection = await connect({ servers: natsUrl, name: 'mcpbus-bench-pickup' });
  const subjects = createSubjects(subjectRoot);
  const first: number[] = [];
  const end: number[] = [];
  try {
    for (let i = -5; i < runs; i += 1) {
      const callId = newCallId();
      let queuedAt = Number.NaN;
      let firstAt = Number.NaN;
      let endAt = Number.NaN;
      let ended: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (ended = resolve));
      const sub = nc.subscribe(subjects.callEvents(callId), {
        callback: (_err, msg) => {
          const type = msg.json<{ type: string }>().type;
          if (type === 'progress' && Number.isNaN(firstAt)) firstAt = performance.now();
          if (type === 'result') {
            endAt = performance.now();
            ended();
          }
        },
      });
      await nc.flush();
      const body: CallToolRequest = { v: 1, callId, server, name: `${server}-slow`, arguments: { steps: 1, delayMs: 0 }, progress: false, deadlineAt: Date.now() + 30_000, task: {} };
      const sentAt = performance.now();
      const reply = (await nc.request(subjects.toolsCall(server), JSON.stringify(body), { timeout: 30_000, headers: apiKeyHeaders(apiKey) })).json<{ ok: boolean }>();
      queuedAt = performance.now();
      if (!reply.ok) throw new Error(`job refused: ${JSON.stringify(reply)}`);
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('a job did not end within 30 s')), 30_000))]);
      sub.unsubscribe();
      if (i < 0) continue; // warm-up
      // The first progress may come before the reply does (the runner is that quick): count from the send then.
      first.push(firstAt - (firstAt < queuedAt ? sentAt : queuedAt));
      end.push(endAt - queuedAt);
    }
  } finally {
    await nc.drain();
  }
  return { enqueueToFirstProgressMs: summarize(first), enqueueToResultMs: summarize(end) };
}

