import { Redis } from 'ioredis';
import type { McpbusConfig } from '@mcpbus/config';
import { messageOf, redactUrl } from '@mcpbus/protocol';
import type { Logger } from 'pino';

export interface StartRunnerOptions {
  config: McpbusConfig;
  redisUrl: string;
  log: Logger;
}

export interface RunnerHandle {
  close(): Promise<void>;
}

/**
 * The runner will execute long-running calls as BullMQ jobs. Until that capability lands it
 * only proves Redis is reachable and idles, so deployments can already include the role.
 */
export async function startRunner(options: StartRunnerOptions): Promise<RunnerHandle> {
  const log = options.log.child({ role: 'runner' });
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection problem'));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err: unknown) {
    redis.disconnect();
    throw new Error(`cannot connect to Redis at ${redactUrl(options.redisUrl)}: ${messageOf(err)}`, { cause: err });
  }
  log.info('runner ready (idle: long-running jobs are not implemented yet)');
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      await redis.quit().catch(() => redis.disconnect());
      log.info('runner stopped');
    },
  };
}
