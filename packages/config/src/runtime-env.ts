import type { Env } from './fields.js';
import type { RuntimeEnv } from './types.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_LOG_LEVEL = 'info';

/** NATS_URL, REDIS_URL and LOG_LEVEL with their defaults; an empty variable counts as unset. */
export function loadRuntimeEnv(env: Env): RuntimeEnv {
  const natsUrl = nonEmpty(env['NATS_URL']);
  const redisUrl = nonEmpty(env['REDIS_URL']);
  return Object.freeze({
    natsUrl: natsUrl ?? DEFAULT_NATS_URL,
    redisUrl: redisUrl ?? DEFAULT_REDIS_URL,
    logLevel: nonEmpty(env['LOG_LEVEL']) ?? DEFAULT_LOG_LEVEL,
    natsUrlIsDefault: natsUrl === undefined,
    redisUrlIsDefault: redisUrl === undefined,
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
