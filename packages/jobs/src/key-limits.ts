import type { Redis } from 'ioredis';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';

export interface KeyLimitSettings {
  /** Calls per minute per key (0: off). */
  perMinute: number;
  /** Calls running at once per key (0: off). */
  concurrent: number;
}

export interface KeyLimits {
  /**
   * Admits one call of `owner` or throws `rate_limited`; call the returned function when it ends.
   * `own` holds the key's own limits (a virtual key's `rpm_limit`, `max_parallel_requests`).
   */
  admit(owner: string, own?: Partial<KeyLimitSettings>): Promise<() => void>;
}

// One round trip: count the call in this minute's window and among the running ones, or refuse
// it and count nothing. The running counter expires on its own, in case a worker dies holding it.
const ADMIT = `
local perMinute = tonumber(ARGV[1])
local concurrent = tonumber(ARGV[2])
if perMinute > 0 then
  local n = tonumber(redis.call('GET', KEYS[1]) or '0')
  if n >= perMinute then return 1 end
end
if concurrent > 0 then
  local c = tonumber(redis.call('GET', KEYS[2]) or '0')
  if c >= concurrent then return 2 end
  redis.call('INCR', KEYS[2])
  -- Set when the counter appears, not renewed: a release lost with a dead worker cannot keep it up for ever.
  if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
end
if perMinute > 0 then
  if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], 60000) end
end
return 0`;

const RELEASE = `
local c = redis.call('DECR', KEYS[1])
if c <= 0 then redis.call('DEL', KEYS[1]) end
return c`;

type Scripts = Redis & {
  mcpbusAdmit(window: string, running: string, perMinute: number, concurrent: number, runningTtlMs: number): Promise<number>;
  mcpbusRelease(running: string): Promise<number>;
};

/**
 * Per-key limits shared by every replica through Redis: calls started per minute (a fixed
 * window) and calls running at once. When Redis cannot be reached the call is admitted: a limit
 * must not take the gateway down with it.
 */
export function createKeyLimits(redis: Redis, subjectRoot: string, defaults: KeyLimitSettings, runningTtlMs: number): KeyLimits {
  const r = redis as Scripts;
  if (typeof r.mcpbusAdmit !== 'function') {
    redis.defineCommand('mcpbusAdmit', { numberOfKeys: 2, lua: ADMIT });
    redis.defineCommand('mcpbusRelease', { numberOfKeys: 1, lua: RELEASE });
  }
  const base = `mcpbus:${subjectRoot}:limits`;
  return {
    async admit(owner, own) {
      const limits = { perMinute: own?.perMinute ?? defaults.perMinute, concurrent: own?.concurrent ?? defaults.concurrent };
      if (limits.perMinute === 0 && limits.concurrent === 0) return () => undefined;
      const window = `${base}:rpm:${owner}:${Math.floor(Date.now() / 60_000)}`;
      const running = `${base}:running:${owner}`;
      let verdict: number;
      try {
        verdict = await r.mcpbusAdmit(window, running, limits.perMinute, limits.concurrent, runningTtlMs);
      } catch {
        return () => undefined;
      }
      if (verdict === 1) {
        const retryAfterS = Math.max(1, Math.ceil((60_000 - (Date.now() % 60_000)) / 1000));
        throw new McpbusError(ErrorCode.RateLimited, `Rate limit: this key may start ${limits.perMinute} tool calls per minute; try again in ${retryAfterS} s`, { data: { retryAfterS } });
      }
      if (verdict === 2) throw new McpbusError(ErrorCode.RateLimited, `Concurrency limit: this key may have ${limits.concurrent} tool calls running at once; wait for one to finish`);
      if (limits.concurrent === 0) return () => undefined;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        void r.mcpbusRelease(running).catch(() => undefined);
      };
    },
  };
}
