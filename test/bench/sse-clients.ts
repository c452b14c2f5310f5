// A bench child that holds many legacy SSE sessions: `node --import tsx sse-clients.ts`, driven
// over IPC by sessions.ts (open N, ping each, list tools on some, close all). Several of these
// share the 10,000 sessions so one client event loop is not what limits the test.
import { Agent } from 'node:http';
import { bounded, openSseSession, type SseSession, type SseTarget } from './sse-sessions.js';

export type ClientCommand =
  | { type: 'open'; target: SseTarget; count: number; concurrency: number }
  | { type: 'ping'; concurrency: number }
  | { type: 'list'; every: number; concurrency: number; expectTools: number }
  | { type: 'close' };

/** One command's outcome: how many succeeded, the per-item times (ms) and the wall time. */
export interface ClientReport {
  /** `ready` once, when the process listens for commands. */
  type: ClientCommand['type'] | 'ready';
  ok: number;
  failed: number;
  firstError: string | undefined;
  itemMs: number[];
  wallMs: number;
  /** This client process's resident memory, bytes. */
  rss: number;
}

const sessions: SseSession[] = [];
const postAgent = new Agent({ keepAlive: true, maxSockets: 32 });

async function run(command: ClientCommand): Promise<ClientReport> {
  const startedAt = performance.now();
  const done = (r: { ok: unknown[]; okMs: number[]; failed: number; firstError: string | undefined }): ClientReport => ({
    type: command.type,
    ok: r.ok.length,
    failed: r.failed,
    firstError: r.firstError,
    itemMs: r.okMs,
    wallMs: performance.now() - startedAt,
    rss: process.memoryUsage().rss,
  });
  switch (command.type) {
    case 'open': {
      const target = command.target;
      const r = await bounded(Array.from({ length: command.count }), command.concurrency, () => openSseSession(target, postAgent));
      sessions.push(...r.ok);
      return done(r);
    }
    case 'ping':
      return done(
        await bounded(sessions, command.concurrency, async (s) => {
          const reply = await s.request('ping', {});
          if (reply['result'] === undefined) throw new Error(`ping: ${JSON.stringify(reply).slice(0, 200)}`);
        }),
      );
    case 'list': {
      const picked = sessions.filter((_, i) => i % command.every === 0);
      return done(
        await bounded(picked, command.concurrency, async (s) => {
          const reply = await s.request('tools/list', {});
          const tools = (reply['result'] as { tools?: unknown[] } | undefined)?.tools?.length;
          if (tools !== command.expectTools) throw new Error(`tools/list gave ${tools ?? 'no'} tools, expected ${command.expectTools}: ${JSON.stringify(reply).slice(0, 200)}`);
        }),
      );
    }
    case 'close':
      for (const s of sessions.splice(0)) s.close();
      postAgent.destroy();
      return done({ ok: [], okMs: [], failed: 0, firstError: undefined });
  }
}

process.on('message', (command: ClientCommand) => {
  run(command).then(
    (report) => process.send?.(report),
    (err: unknown) => process.send?.({ type: command.type, ok: 0, failed: 1, firstError: String(err), itemMs: [], wallMs: 0, rss: process.memoryUsage().rss } satisfies ClientReport),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready', ok: 0, failed: 0, firstError: undefined, itemMs: [], wallMs: 0, rss: process.memoryUsage().rss } satisfies ClientReport);
