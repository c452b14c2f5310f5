import { join, resolve } from 'node:path';
import { NATS_URL, REDIS_URL } from './paths.js';
import { startTopology } from './topology.js';

/**
 * `MCPBUS_E2E_TOPOLOGY=1` (`pnpm test:topology`): the e2e suite's gateways run as the compose
 * topology, each role its own `mcpbus start --role …` process behind a round-robin proxy.
 */
export const TOPOLOGY_MODE = process.env['MCPBUS_E2E_TOPOLOGY'] === '1';
/** Each topology's process logs go to `<dir>/<subject root>/` (none unless set). */
const LOG_DIR = process.env['MCPBUS_E2E_TOPOLOGY_LOGS'];
/** LOG_LEVEL of the processes (default `warn`: their start-up failures and errors). */
const LOG_LEVEL = process.env['MCPBUS_E2E_TOPOLOGY_LOG_LEVEL'] ?? 'warn';
/**
 * Five processes started by tsx at once on a shared 2-core machine take a while; less than
 * vitest's 60 s hook timeout, so a start that fails still cleans up after itself.
 */
const READY_TIMEOUT_MS = 45_000;
/** As compose's stop_grace_period: long enough for a drain, short enough for an afterAll. */
const STOP_GRACE_MS = 10_000;

export interface TopologyGatewayOptions {
  /** The config document as the test built it; its subject root is kept. */
  doc: Record<string, unknown>;
  subjectRoot: string;
  ingresses?: number;
  workers?: number;
  runners?: number;
  env?: Record<string, string>;
}

export interface TopologyGateway {
  /** `/mcp` through the round-robin proxy. */
  url: string;
  /** `/mcp` of each ingress process. */
  urls: string[];
  stopWorkers(): Promise<void>;
  close(options: { keepData: boolean }): Promise<void>;
}

/**
 * A test's gateway as real processes: at least 2 ingresses, 2 workers and 1 runner (more when
 * the test asks; none of a role it sets to 0), no demo upstream, the test's subject root.
 * A process that dies is not restarted: the test sees it.
 */
export async function startTopologyGateway(options: TopologyGatewayOptions): Promise<TopologyGateway> {
  const topology = await startTopology({
    config: options.doc,
    subjectRoot: options.subjectRoot,
    ingresses: Math.max(2, options.ingresses ?? 1),
    workers: options.workers === 0 ? 0 : Math.max(2, options.workers ?? 1),
    // A runner with nothing to do changes nothing, so tests that leave it out get one as compose
    // does; an explicit 0 is a test that runs its own runners and needs them alone.
    runners: options.runners === 0 ? 0 : Math.max(1, options.runners ?? 0),
    natsUrl: NATS_URL,
    redisUrl: REDIS_URL,
    upstreamPort: false,
    restart: false,
    logLevel: LOG_LEVEL,
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(LOG_DIR === undefined ? {} : { logDir: join(resolve(LOG_DIR), options.subjectRoot) }),
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  return {
    url: topology.url,
    urls: [...topology.ingressUrls],
    async stopWorkers() {
      await Promise.all([...topology.workers, ...topology.runners].map((p) => p.stop(STOP_GRACE_MS)));
    },
    close: ({ keepData }) => topology.close({ graceMs: STOP_GRACE_MS, keepData }),
  };
}
