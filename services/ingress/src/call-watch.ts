import { checkBody, parseJsonBody, type NatsConnection, type Subscription } from '@mcpbus/bus';
import type { ProgressEvent, ProgressUpdate, ResultEvent } from '@mcpbus/protocol';

/** How long a result waits for progress events it was told about but has not seen yet. */
const EVENT_CATCH_UP_MS = 1_000;
/** How long later progress waits behind a missing event before the relay gives up on it. */
const GAP_MS = 1_000;

export type ProgressSink = (update: ProgressUpdate) => Promise<void> | void;

/**
 * Delivers progress events strictly in `seq` order, one at a time, and lets the caller wait
 * until a given number of them has been delivered: the result says how many were published,
 * so none is dropped or overtaken by it.
 */
function createProgressRelay(deliver: ProgressSink) {
  const early = new Map<number, ProgressEvent>();
  let nextSeq = 1;
  let chain: Promise<void> = Promise.resolve();
  let waiter: { target: number; resolve: () => void } | undefined;
  let gapTimer: NodeJS.Timeout | undefined;

  /** A lost event must not freeze the progress after it: after a while, go on without it. */
  const watchGap = (): void => {
    if (gapTimer !== undefined || early.size === 0) return;
    gapTimer = setTimeout(() => {
      gapTimer = undefined;
      const next = Math.min(...early.keys());
      if (next > nextSeq) nextSeq = next;
      flush();
    }, GAP_MS);
    gapTimer.unref();
  };

  const flush = (): void => {
    for (let event = early.get(nextSeq); event !== undefined; event = early.get(nextSeq)) {
      early.delete(nextSeq);
      nextSeq += 1;
      const update: ProgressUpdate = { progress: event.progress };
      if (event.total !== undefined) update.total = event.total;
      if (event.message !== undefined) update.message = event.message;
      chain = chain.then(() => deliver(update)).catch(() => undefined);
    }
    if (waiter !== undefined && nextSeq > waiter.target) waiter.resolve();
    if (early.size === 0 && gapTimer !== undefined) {
      clearTimeout(gapTimer);
      gapTimer = undefined;
    }
    watchGap();
  };

  return {
    accept(event: ProgressEvent): void {
      if (event.seq >= nextSeq) early.set(event.seq, event);
      flush();
    },
    /** Events up to `seq` happened before this watcher looked; they are not waited for. */
    skipTo(seq: number): void {
      if (seq + 1 <= nextSeq) return;
      for (const s of early.keys()) if (s <= seq) early.delete(s);
      nextSeq = seq + 1;
      flush();
    },
    async settle(expected: number): Promise<void> {
      if (nextSeq <= expected) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, EVENT_CATCH_UP_MS);
          waiter = {
            target: expected,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          };
        });
      }
      // An event lost on the way must not hold back the ones after it: deliver what arrived.
      for (const seq of [...early.keys()].sort((a, b) => a - b)) {
        nextSeq = seq;
        flush();
      }
      clearTimeout(gapTimer);
      await chain;
    },
  };
}

export interface CallWatch {
  /** Resolves with the job's end when a ResultEvent arrives (inline calls never send one). */
  readonly ended: Promise<ResultEvent>;
  /** Progress before `seq` is history to this watcher. */
  skipTo(seq: number): void;
  /** Waits (briefly) until `events` progress updates have been delivered. */
  settle(events: number): Promise<void>;
  close(): void;
}

/**
 * Listens on a call's events subject: progress goes to `onProgress` in order, the end of a job
 * resolves `ended`. Malformed events are dropped; the outcome still arrives another way.
 */
export function watchCall(nc: NatsConnection, subject: string, onProgress: ProgressSink | undefined): CallWatch {
  const relay = onProgress === undefined ? undefined : createProgressRelay(onProgress);
  let end: (event: ResultEvent) => void = () => undefined;
  const ended = new Promise<ResultEvent>((resolve) => (end = resolve));
  const sub: Subscription = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const body = parseJsonBody(msg.data, 'call event') as { type?: unknown };
        if (body.type === 'result') end(checkBody<ResultEvent>(body, 'ResultEvent'));
        else if (relay !== undefined) relay.accept(checkBody<ProgressEvent>(body, 'ProgressEvent'));
      } catch {
        // dropped: see above
      }
    },
  });
  return {
    ended,
    skipTo: (seq) => relay?.skipTo(seq),
    settle: (events) => relay?.settle(events) ?? Promise.resolve(),
    close: () => sub.unsubscribe(),
  };
}
