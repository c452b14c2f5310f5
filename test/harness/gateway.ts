import { randomBytes } from 'node:crypto';
import { runRoles, type Role, type RolesHandle } from '@mcpbus/cli';
import { parseConfig, loadRuntimeEnv, type McpbusConfig } from '@mcpbus/config';
import { silentLogger } from '@mcpbus/logging';
import { stringify } from 'yaml';
import { FIXTURE_MAIN, NATS_URL, REDIS_URL, REPO_ROOT } from './paths.js';
import { deleteSubmitStream } from './streams.js';
import { startTopologyGateway, TOPOLOGY_MODE } from './topology-gateway.js';

export { deleteSubmitStream } from './streams.js';

export const MASTER_KEY = 'sk-test-master';

/** The fixture server as a stdio upstream, in config.yaml form. */
export function fixtureStdio(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio'], cwd: REPO_ROOT, ...extra };
}

export interface GatewayOptions {
  servers: Record<string, Record<string, unknown>>;
  /** Number of ingress replicas (each on its own port); at least 2 in topology mode. */
  ingresses?: number;
  /** Number of worker processes-in-process; at least 2 in topology mode, unless 0. */
  workers?: number;
  /**
   * Number of runners (BullMQ job workers) in this process; none unless asked for. Topology mode
   * runs at least one unless this is explicitly 0.
   */
  runners?: number;
  settings?: Record<string, unknown>;
  masterKey?: string | null;
  /** More top-level config sections (e.g. `mcp_tools`). */
  extra?: Record<string, unknown>;
  /**
   * More environment for the gateway's processes in topology mode (in-process roles share this
   * process, which the test sets up itself: its tracing, for instance).
   */
  env?: Record<string, string>;
  /**
   * Why this test needs the gateway in its own process even under `MCPBUS_E2E_TOPOLOGY=1`
   * (`pnpm test:topology`); without it the gateway runs as separate processes there.
   */
  inProcess?: string;
}

export interface TestGateway {
  readonly config: McpbusConfig;
  /** `/mcp` URL of each ingress replica. */
  readonly urls: string[];
  /** `/mcp` of the first ingress; in topology mode, of the round-robin proxy in front of them. */
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Stops the worker roles only (ingresses keep running); in topology mode the runners too. */
  stopWorkers(): Promise<void>;
  /**
   * Stops everything and deletes the gateway's submissions stream from the shared NATS server
   * (in topology mode its Redis keys too), unless `keepStream` (a test that starts the gateway
   * again on the same subject root).
   */
  close(options?: { keepStream?: boolean }): Promise<void>;
}

/**
 * A whole gateway in this process: worker(s) and ingress replica(s) on random ports, talking
 * over the real NATS server under a subject root of their own so test files never see each
 * other's traffic. With `MCPBUS_E2E_TOPOLOGY=1` the same config runs as the compose topology
 * instead (see topology-gateway.ts), unless the test says why it needs `inProcess`.
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
  const headers: Record<string, string> = masterKey === null ? {} : { Authorization: `Bearer ${masterKey}` };
  if (TOPOLOGY_MODE && options.inProcess === undefined) {
    const { ingresses, workers, runners, env } = options;
    const topology = await startTopologyGateway({ doc, subjectRoot: config.settings.subjectRoot, ingresses, workers, runners, env });
    return {
      config,
      urls: topology.urls,
      url: topology.url,
      headers,
      stopWorkers: () => topology.stopWorkers(),
      close: (closeOptions = {}) => topology.close({ keepData: closeOptions.keepStream === true }),
    };
  }
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
    headers,
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
