/**
 * Runs work once per key per window: the first `soon(key, work)` schedules it `ms` later, and
 * calls for the same key until then are dropped (a burst of announcements of one change becomes
 * one notification).
 */
export interface Coalescer {
  soon(key: string, work: () => void): void;
  /** Drops whatever is scheduled. */
  close(): void;
}

export function createCoalescer(ms: number): Coalescer {
  const pending = new Map<string, NodeJS.Timeout>();
  return {
    soon(key, work) {
      if (pending.has(key)) return;
      pending.set(
        key,
        setTimeout(() => {
          pending.delete(key);
          work();
        }, ms),
      );
    },
    close() {
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
    },
  };
}
