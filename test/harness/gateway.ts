import { randomBytes } from 'node:crypto';
import { runRoles, type Role, type RolesHandle } from '@mcpbus/cli';
import { parseConfig, loadRuntimeEnv, type McpbusConfig } from '@mcpbus/config';
import { silentLogger } from '@mcpbus/logging';
import { stringify } from 'yaml';
import { FIXTURE_MAIN, NATS_URL, REDIS_URL, REPO_ROOT } from './paths.js';
import { deleteSubmitStream } from './streams.js';

export { deleteSubmitStream } from './streams.js';

export const MASTER_KEY = 'sk-test-master';

/** The fixture server as a stdio upstream, in config.yaml form. */
export function fixtureStdio(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio'], cwd: REPO_ROOT, ...extra };
}

export interface GatewayOptions {
  servers: Record<string, Record<string, unknown>>;
  /** Number of ingress replicas (each on its own port). */
  ingresses?: number;
  /** Number of worker processes-in-process. */
  workers?: number;
  /** Number of runners (BullMQ job workers) in this process; none unless asked for. */
  runners?: number;
  settings?: Record<string, unknown>;
  masterKey?: string | null;
  /** More top-level config sections (e.g. `mcp_tools`). */
  extra?: Record<string, unknown>;
}

export interface TestGateway {
  readonly config: McpbusConfig;
  /** `/mcp` URL of each ingress replica. */
  readonly urls: string[];
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Stops the worker roles only (ingresses keep running). */
  stopWorkers(): Promise<void>;
  /**
   * Stops everything and deletes the gateway's submissions stream from the shared NATS server,
   * unless `keepStream` (a test that starts the gateway again on the same subject root).
   */
  close(options?: { keepStream?: boolean }): Promise<void>;
}


/**
 * A whole gateway in this process: worker(s) and ingress replica(s) on random ports, talking
 * over the real NATS server under a subject root of their own so test files never see each
 * other's traffic.
 */
export async function startGateway(options: GatewayOptions): Promise<TestGateway> {
  const masterKey = options.masterKey === undefined ? MASTER_KEY : options.masterKey;
  const doc = {
    mcp_servers: options.servers,
    general_settings: masterKey === null ? {} : { master_key: masterKey },
    mcpbus_settings: { subject_root: `t${randomBytes(6).toString('hex')}`, ...options.settings },
    ...options.extra,
  };
  const config = parseConfig(stringify(doc), { env: {} });
  const runtime = loadRuntimeEnv({ NATS_URL, REDIS_URL });
  const log = silentLogger();
  const workers: RolesHandle[] = [];
  const ingresses: RolesHandle[] = [];
  const start = (roles: Role[]) => runRoles({ config, runtime, roles, port: 0, host: '127.0.0.1', log });
  try {
    for (let i = 0; i < (options.workers ?? 1); i += 1) workers.push(await start(['worker']));
    for (let i = 0; i < (options.runners ?? 0); i += 1) workers.push(await start(['runner']));
    for (let i = 0; i < (options.ingresses ?? 1); i += 1) ingresses.push(await start(['ingress']));
  } catch (err: unknown) {
    await Promise.allSettled([...ingresses, ...workers].map((h) => h.close()));
    throw err;
  }
  const urls = ingresses.map((h) => `${h.ingress?.url ?? ''}/mcp`);
  return {
    config,
    urls,
    url: urls[0] ?? '',
    headers: masterKey === null ? {} : { Authorization: `Bearer ${masterKey}` },
    async stopWorkers() {
      await Promise.all(workers.map((w) => w.close()));
    },
    async close(closeOptions = {}) {
      await Promise.allSettled(ingresses.map((h) => h.close()));
      await Promise.allSettled(workers.map((h) => h.close()));
      if (closeOptions.keepStream !== true) await deleteSubmitStream(config.settings.subjectRoot).catch(() => undefined);
    },
  };
}
