import { ErrorCode, McpbusError } from '@mcpbus/protocol';

export interface CallLimits {
  /** Calls to the server running at once, from this process. */
  maxConcurrent: number;
  /** Calls waiting for a slot; one more is refused at once. */
  maxQueued: number;
}

export interface CallLimiter {
  /**
   * Runs `work` once the server has a free slot. Waits in line (FIFO) while it has none; refuses
   * with `overloaded` when the line is full, and stops waiting when `signal` aborts.
   */
  run<T>(server: string, limits: CallLimits, signal: AbortSignal, work: () => Promise<T>): Promise<T>;
}

interface Lane {
  running: number;
  waiting: { start: () => void }[];
}

/**
 * Per-upstream bounds: one slow or stuck server cannot take every socket, promise and byte of a
 * worker, and callers beyond its bounds get a fast, clear error instead of an ever longer wait.
 */
export function createCallLimiter(): CallLimiter {
  const lanes = new Map<string, Lane>();
  const laneOf = (server: string): Lane => {
    let lane = lanes.get(server);
    if (lane === undefined) lanes.set(server, (lane = { running: 0, waiting: [] }));
    return lane;
  };
  return {
    async run(server, limits, signal, work) {
      const lane = laneOf(server);
      if (lane.running < limits.maxConcurrent) lane.running += 1;
      else {
        if (lane.waiting.length >= limits.maxQueued)
          throw new McpbusError(ErrorCode.Overloaded, `upstream server "${server}" has ${lane.running} calls running and ${lane.waiting.length} waiting, its limit; try again shortly`, { data: { server } });
        await new Promise<void>((resolve, reject) => {
          const entry = {
            start: () => {
              signal.removeEventListener('abort', onAbort);
              resolve();
            },
          };
          const onAbort = (): void => {
            const at = lane.waiting.indexOf(entry);
            if (at >= 0) lane.waiting.splice(at, 1);
            reject(signal.reason instanceof Error ? signal.reason : new McpbusError(ErrorCode.Cancelled, `the call was cancelled while it waited for upstream server "${server}"`));
          };
          if (signal.aborted) return onAbort();
          signal.addEventListener('abort', onAbort, { once: true });
          lane.waiting.push(entry);
        });
        // The slot was handed over by the call that ended: `running` already counts this one.
      }
      try {
        return await work();
      } finally {
        const next = lane.waiting.shift();
        if (next !== undefined) next.start();
        else lane.running -= 1;
      }
    },
  };
}
