import { connectBus, type NatsConnection } from '@mcpbus/bus';
import type { McpbusConfig, RuntimeEnv } from '@mcpbus/config';
import { startIngress, type IngressHandle } from '@mcpbus/ingress';
import { startRunner } from '@mcpbus/runner';
import { startWorker } from '@mcpbus/worker';
import { collectProcessMetrics } from '@mcpbus/logging';
import type { Logger } from 'pino';

export const ROLES = ['ingress', 'worker', 'runner'] as const;
export type Role = (typeof ROLES)[number];

export interface RunRolesOptions {
  config: McpbusConfig;
  runtime: RuntimeEnv;
  roles: readonly Role[];
  port: number;
  host: string;
  log: Logger;
}

export interface RolesHandle {
  /** The ingress, when that role runs. */
  readonly ingress: IngressHandle | undefined;
  /** Whether the worker and runner roles of this process can serve (true for an ingress alone). */
  ready(): boolean;
  /** Drains in order (ingress, then worker, then runner) and closes the NATS connection. */
  close(): Promise<void>;
}

/**
 * Starts the requested roles in this process, sharing one NATS connection. Used by
 * `mcpbus start` and by tests that need a whole gateway in-process.
 */
export async function runRoles(options: RunRolesOptions): Promise<RolesHandle> {
  const { config, log, roles } = options;
  const closers: (() => Promise<void>)[] = [];
  let nc: NatsConnection | undefined;
  let ingress: IngressHandle | undefined;
  const readiness: (() => boolean)[] = [];
  collectProcessMetrics();
  const closeAll = async (): Promise<void> => {
    // Reverse start order: ingress stops taking calls before the workers behind it drain.
    for (const close of closers.reverse()) await close().catch((err: unknown) => log.error({ err: String(err) }, 'close failed'));
    closers.length = 0;
    if (nc !== undefined && !nc.isClosed()) await nc.drain().catch(() => undefined);
  };
  try {
    nc = await connectBus({ url: options.runtime.natsUrl, name: `mcpbus-${roles.join('+')}-${process.pid}` });
    if (roles.includes('runner')) {
      const runner = await startRunner({ config, nc, redisUrl: options.runtime.redisUrl, log });
      closers.push(() => runner.close());
      readiness.push(() => runner.ready());
    }
    if (roles.includes('worker')) {
      const worker = await startWorker({ config, nc, log, redisUrl: options.runtime.redisUrl });
      closers.push(() => worker.close());
      readiness.push(() => worker.ready());
    }
    if (roles.includes('ingress')) {
      const started = await startIngress({ config, nc, log, port: options.port, host: options.host });
      ingress = started;
      closers.push(() => started.close());
    }
  } catch (err: unknown) {
    await closeAll();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    ingress,
    ready: () => readiness.every((ready) => ready()),
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
}
