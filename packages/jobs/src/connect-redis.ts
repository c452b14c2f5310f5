import { Redis } from 'ioredis';
import { ErrorCode, McpbusError, messageOf, redactUrl } from '@mcpbus/protocol';

/**
 * `producer`: workers enqueue and read tasks; a command fails fast while Redis is away, so a
 * client gets a clear 503 instead of waiting. `consumer`: the runner's BullMQ Worker, which
 * needs `maxRetriesPerRequest: null` for its blocking commands.
 */
export type RedisRole = 'producer' | 'consumer';

interface Warn {
  warn(data: Record<string, unknown>, message: string): void;
}

/**
 * Connects to Redis and waits until it answers. With `required: false` an unreachable Redis is
 * not fatal: the client keeps reconnecting in the background and `ready()` says when it is up.
 */
export async function connectRedis(url: string, role: RedisRole, log: Warn, required = true): Promise<{ redis: Redis; ready: () => boolean }> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: role === 'consumer' ? null : 1,
    enableOfflineQueue: role === 'consumer',
    // Commands issued in the same tick (many calls queued at once) share one round trip.
    enableAutoPipelining: role === 'producer',
  });
  let warned = false;
  redis.on('error', (err: Error) => {
    if (!warned) log.warn({ err: err.message, redis: redactUrl(url) }, 'redis connection problem');
    warned = true;
  });
  redis.on('ready', () => (warned = false));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err: unknown) {
    if (required) {
      redis.disconnect();
      throw new McpbusError(ErrorCode.QueueUnavailable, `cannot connect to Redis at ${redactUrl(url)}: ${messageOf(err)}`, { cause: err });
    }
  }
  return { redis, ready: () => redis.status === 'ready' };
}
