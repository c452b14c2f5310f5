import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { API_KEY_HEADER, createSubjects, newCallId } from '@mcpbus/protocol';
import { postRpc, toolReplyOf, type Target } from './load.js';

export interface SubmitterOptions {
  natsUrl: string;
  subjectRoot: string;
  /** Server and exposed tool name of the submissions. */
  server: string;
  tool: string;
  /** Arguments of one submission, given its call id. */
  args(callId: string): Record<string, unknown>;
  apiKey: string;
  intervalMs?: number;
}

export interface Submitter {
  /** Stops submitting; the ids JetStream acknowledged, and how many publishes it refused. */
  stop(): Promise<{ acked: string[]; refused: number }>;
}

/**
 * An agent platform submitting durably over JetStream (no HTTP), one submission after another
 * until stopped. A submission counts once JetStream acknowledged it; a refused publish (NATS away)
 * is the platform's to retry and is only counted.
 */
export async function startSubmitter(options: SubmitterOptions): Promise<Submitter> {
  const nc = await connect({ servers: options.natsUrl, name: 'topology-submitter', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const js = jetstream(nc, { timeout: 2_000 });
  const subject = createSubjects(options.subjectRoot).submit(options.server);
  const acked: string[] = [];
  let refused = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const callId = newCallId();
      const body = { v: 1, callId, server: options.server, name: options.tool, arguments: options.args(callId), progress: false, deadlineAt: Date.now() + 600_000 };
      const h = headers();
      h.set(API_KEY_HEADER, options.apiKey);
      try {
        await js.publish(subject, JSON.stringify(body), { msgID: callId, headers: h });
        acked.push(callId);
      } catch {
        refused += 1;
      }
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await nc.close().catch(() => undefined);
      return { acked, refused };
    },
  };
}

/**
 * Waits until the task of every acknowledged submission has ended (read over MCP `tasks/get`,
 * through `target`); its statuses, counted.
 */
export async function submissionsEnded(target: Target, acked: readonly string[], timeoutMs = 90_000): Promise<Record<string, number>> {
  const until = Date.now() + timeoutMs;
  const ended = new Map<string, string>();
  for (;;) {
    const open = acked.filter((id) => !ended.has(id));
    const statuses = await Promise.all(open.map(async (taskId) => [taskId, toolReplyOf(await postRpc(target, 'tasks/get', { taskId })).result?.['status']] as const));
    for (const [id, status] of statuses) if (typeof status === 'string' && status !== 'working') ended.set(id, status);
    if (ended.size === acked.length) break;
    if (Date.now() > until) throw new Error(`${acked.length - ended.size} of ${acked.length} acknowledged submissions did not end within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const counts: Record<string, number> = {};
  for (const status of ended.values()) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}
