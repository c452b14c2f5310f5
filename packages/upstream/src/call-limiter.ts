import { ErrorCode, McpbusError } from '@mcpbus/protocol';

export interface CallLimits {
  /** Calls to the server running at once, from this process. */
  maxConcurrent: number;
  /** Calls waiting for a slot; one more is refused at once. */
  maxQueued: number;
  /** Consecutive failures (unreachable, timed out) that open the circuit; 0: never. */
  breakAfter?: number;
}

/** How long an open circuit refuses calls at first; it doubles each time it opens again, up to the maximum. */
const OPEN_MS = 1_000;
const MAX_OPEN_MS = 60_000;
/** Failures that say the upstream itself is in trouble (not the call's own arguments or a cancel). */
const UPSTREAM_FAILURES: ReadonlySet<string> = new Set([ErrorCode.UpstreamUnavailable, ErrorCode.UpstreamTimeout]);

/** How long a call may wait for a slot, and what to say when it waited too long. */
export interface WaitBound {
  signal: AbortSignal;
  /** Infinity: until `signal` aborts. */
  waitMs: number;
  timeoutMessage?: string;
}

/** The slot a call runs in, for work that outlives the function `run` was given. */
export interface CallSlot {
  /**
   * Keeps the slot taken after `work` returns (a call parked for its client's input goes on
   * upstream in the background): the returned function frees it, once, when that work ends.
   */
  keep(): () => void;
}

export interface CallLimiter {
  /**
   * Runs `work` once the server has a free slot. Waits in line (FIFO) while it has none; refuses
   * with `overloaded` when the line is full, and stops waiting when `wait.signal` aborts or
   * `wait.waitMs` pass (`timeout`). The slot is freed when `work` settles, unless it kept it.
   */
  run<T>(server: string, limits: CallLimits, wait: WaitBound, work: (slot: CallSlot) => Promise<T>): Promise<T>;
  /** Each server's calls running and waiting, and whether its circuit is open now (for metrics). */
  lanes(): Iterable<LaneState>;
}

export interface LaneState {
  server: string;
  running: number;
  waiting: number;
  circuitOpen: boolean;
}

interface Lane {
  running: number;
  waiting: { start: () => void }[];
  /** Consecutive upstream failures. */
  failures: number;
  /** Times the circuit opened in a row (without a success in between). */
  trips: number;
  openUntil: number;
}

/**
 * Per-upstream bounds: one slow or stuck server cannot take every socket, promise and byte of a
 * worker, and callers beyond its bounds get a fast, clear error instead of an ever longer wait.
 */
export function createCallLimiter(): CallLimiter {
  const lanes = new Map<string, Lane>();
  const laneOf = (server: string): Lane => {
    let lane = lanes.get(server);
    if (lane === undefined) lanes.set(server, (lane = { running: 0, waiting: [], failures: 0, trips: 0, openUntil: 0 }));
    return lane;
  };
  return {
    *lanes() {
      const now = Date.now();
      for (const [server, lane] of lanes) yield { server, running: lane.running, waiting: lane.waiting.length, circuitOpen: lane.openUntil > now };
    },
    async run(server, limits, wait, work) {
      const { signal } = wait;
      const lane = laneOf(server);
      // An open circuit: the upstream kept failing, so fail fast instead of piling more on it.
      // Once the pause is over calls go through again; the next failure opens it for longer.
      const now = Date.now();
      if (lane.openUntil > now)
        throw new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server}" failed ${lane.failures} times in a row; calls are paused for ${Math.ceil((lane.openUntil - now) / 1000)} s (circuit open)`, { data: { server } });
      if (lane.running < limits.maxConcurrent) lane.running += 1;
      else {
        if (lane.waiting.length >= limits.maxQueued)
          throw new McpbusError(ErrorCode.Overloaded, `upstream server "${server}" has ${lane.running} calls running and ${lane.waiting.length} waiting, its limit; try again shortly`, { data: { server } });
        // Timers and listeners only for calls that do wait: the common case stays free of them.
        await new Promise<void>((resolve, reject) => {
          let timer: NodeJS.Timeout | undefined;
          const entry = {
            start: () => {
              clearTimeout(timer);
              signal.removeEventListener('abort', onAbort);
              resolve();
            },
          };
          const leave = (reason: Error): void => {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            const at = lane.waiting.indexOf(entry);
            if (at >= 0) lane.waiting.splice(at, 1);
            reject(reason);
          };
          const onAbort = (): void => leave(signal.reason instanceof Error ? (signal.reason) : new McpbusError(ErrorCode.Cancelled, `the call was cancelled while it waited for upstream server "${server}"`));
          if (signal.aborted) return onAbort();
          signal.addEventListener('abort', onAbort, { once: true });
          if (Number.isFinite(wait.waitMs))
            timer = setTimeout(() => leave(new McpbusError(ErrorCode.Timeout, wait.timeoutMessage ?? `the call waited too long for upstream server "${server}"`)), Math.max(1, wait.waitMs));
          lane.waiting.push(entry);
        });
        // The slot was handed over by the call that ended: `running` already counts this one.
      }
      // A slot is handed to the first call in line, or given back.
      let freed = false;
      const free = (): void => {
        if (freed) return;
        freed = true;
        const next = lane.waiting.shift();
        if (next !== undefined) next.start();
        else lane.running -= 1;
      };
      let kept = false;
      const slot: CallSlot = {
        keep() {
          kept = true;
          return free;
        },
      };
      try {
        const result = await work(slot);
        lane.failures = 0;
        lane.trips = 0;
        return result;
      } catch (err: unknown) {
        const breakAfter = limits.breakAfter ?? 0;
        if (breakAfter > 0 && err instanceof McpbusError && UPSTREAM_FAILURES.has(err.code)) {
          lane.failures += 1;
          if (lane.failures >= breakAfter && lane.openUntil <= Date.now()) {
            lane.openUntil = Date.now() + Math.min(MAX_OPEN_MS, OPEN_MS * 2 ** lane.trips);
            lane.trips += 1;
          }
        }
        throw err;
      } finally {
        if (!kept) free();
      }
    },
  };
}
