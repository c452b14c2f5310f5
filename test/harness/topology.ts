import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import { ensureInfra, type LaunchedInfra } from '@mcpbus/cli';
import { DEFAULT_NATS_URL, DEFAULT_REDIS_URL, loadConfigFile } from '@mcpbus/config';
import { createLogger } from '@mcpbus/logging';
import { CLI_MAIN, FIXTURE_MAIN, REPO_ROOT } from './paths.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js';
import { deleteSubmitStream } from './streams.js';
import { startSupervised, type SupervisedProcess } from './supervised-process.js';
import { freePort } from './wait.js';

export type { SupervisedProcess, Exit } from './supervised-process.js';

/** What a config function gets to build its document from. */
export interface TopologyContext {
  /** `/mcp` URL of the demo upstream (the fixture over Streamable HTTP). */
  upstreamUrl: string;
}

type ConfigDoc = Record<string, unknown>;

export interface TopologyOptions {
  /**
   * The mcpbus config: a config.yaml path (default examples/config.yaml), a document, or a
   * function building the document from the demo upstream's URL. Its subject root is replaced.
   */
  config?: string | ConfigDoc | ((ctx: TopologyContext) => ConfigDoc);
  /** Public port of the round-robin proxy (0, the default, picks one). */
  port?: number;
  host?: string;
  ingresses?: number;
  workers?: number;
  runners?: number;
  /** Default: a fresh one per run (`topo<hex>`), so runs never see each other's traffic. */
  subjectRoot?: string;
  /** Default: the machine's servers on their default ports. */
  natsUrl?: string;
  redisUrl?: string;
  /** Start nats-server / redis-server (as `mcpbus start` would) when nothing listens on a default URL. */
  ensureInfra?: boolean;
  /** The demo upstream's port (0, the default, picks one); `false` runs none. */
  upstreamPort?: number | false;
  /** LOG_LEVEL of the mcpbus processes (default `warn`). */
  logLevel?: string;
  /** Each process appends its output to `<logDir>/<name>.log`. */
  logDir?: string;
  /** Restart processes that exit unasked, as compose's `restart: unless-stopped` (default true). */
  restart?: boolean;
  /** See RoundRobinProxyOptions.upstreamKeepAlive. */
  proxyKeepAlive?: boolean;
  /** More environment for the mcpbus processes. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface Topology {
  /** `/mcp` through the proxy: what clients use. */
  readonly url: string;
  /** Origin of the proxy. */
  readonly baseUrl: string;
  /** `/mcp` of each ingress, bypassing the proxy. */
  readonly ingressUrls: readonly string[];
  readonly subjectRoot: string;
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** The config file every process runs with. */
  readonly configPath: string;
  readonly masterKey: string | undefined;
  /** `Authorization: Bearer <master key>` (empty without one). */
  readonly headers: Readonly<Record<string, string>>;
  readonly upstreamUrl: string | undefined;
  readonly proxy: RoundRobinProxy;
  readonly ingresses: readonly SupervisedProcess[];
  readonly workers: readonly SupervisedProcess[];
  readonly runners: readonly SupervisedProcess[];
  readonly upstream: SupervisedProcess | undefined;
  /** Every process, upstream first. */
  processes(): SupervisedProcess[];
  /** Waits until every process that should run is up and ready (after kills and restarts). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** A table of URLs and pids. */
  describe(): string;
  /**
   * Stops everything (SIGTERM, SIGKILL after `graceMs`), the proxy, infrastructure it started,
   * and removes the run's NATS streams and Redis keys, unless `keepData` (a test that starts the
   * same subject root again). Idempotent (the first call's options count); never throws.
   */
  close(options?: { graceMs?: number; keepData?: boolean }): Promise<void>;
}

const DEFAULT_CONFIG = resolve(REPO_ROOT, 'examples/config.yaml');

/** Reads a config file as a document, with `mcp_tools` handler paths made absolute (the copy lives elsewhere). */
function readConfigFile(path: string): ConfigDoc {
  const doc = (parse(readFileSync(path, 'utf8'), { merge: true }) ?? {}) as ConfigDoc;
  const tools = doc['mcp_tools'];
  if (Array.isArray(tools)) {
    for (const tool of tools as Record<string, unknown>[]) {
      const handler = tool['handler'];
      if (typeof handler === 'string' && !isAbsolute(handler)) tool['handler'] = resolve(dirname(resolve(path)), handler);
    }
  }
  return doc;
}

function configDoc(option: TopologyOptions['config'], ctx: TopologyContext): ConfigDoc {
  if (option === undefined || typeof option === 'string') return readConfigFile(option ?? DEFAULT_CONFIG);
  return structuredClone(typeof option === 'function' ? option(ctx) : option);
}

async function httpOk(url: string, anyStatus = false): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return anyStatus || res.status === 200;
}

/** Removes what a run left in Redis (its jobs and tasks); best effort. */
async function deleteRedisKeys(redisUrl: string, subjectRoot: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `mcpbus:${subjectRoot}:*`, 'COUNT', 500);
      cursor = nextCursor;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

const withTimeout = <T>(work: Promise<T>, ms: number): Promise<T | undefined> => Promise.race([work, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);

/**
 * docker-compose.yml without Docker: N ingress processes behind a round-robin proxy, N worker
 * processes, N runner processes (each `mcpbus start --role …` run by tsx, with a health port),
 * and the fixture server over Streamable HTTP as the demo upstream. NATS and Redis are the
 * machine's (or the URLs given). Processes that die unasked are started again, as compose does.
 */
export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const host = options.host ?? '127.0.0.1';
  const subjectRoot = options.subjectRoot ?? `topo${randomBytes(5).toString('hex')}`;
  const natsUrl = options.natsUrl ?? DEFAULT_NATS_URL;
  const redisUrl = options.redisUrl ?? DEFAULT_REDIS_URL;
  const restart = options.restart ?? true;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'mcpbus-topology-'));
  if (options.logDir !== undefined) mkdirSync(options.logDir, { recursive: true });
  const logFile = (name: string): { logFile?: string } => (options.logDir === undefined ? {} : { logFile: join(options.logDir, `${name}.log`) });

  let infra: LaunchedInfra | undefined;
  let proxy: RoundRobinProxy | undefined;
  const all: SupervisedProcess[] = [];
  const cleanUp = async (graceMs: number, keepData = false): Promise<void> => {
    for (const p of all) p.preventRestart();
    await proxy?.close();
    // Front to back, as compose stops a stack: no new calls reach a worker that is leaving.
    const order = ['ingress', 'worker', 'runner', 'upstream'];
    for (const role of order) await Promise.allSettled(all.filter((p) => p.role === role).map((p) => p.stop(graceMs)));
    for (const p of all) p.dispose();
    if (!keepData) {
      await withTimeout(deleteSubmitStream(subjectRoot, natsUrl).catch(() => undefined), 5_000);
      await withTimeout(deleteRedisKeys(redisUrl, subjectRoot).catch(() => undefined), 5_000);
    }
    await infra?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (options.ensureInfra === true) {
      const log = createLogger({ level: 'warn', service: 'mcpbus-topology' });
      infra = await ensureInfra(
        [
          { kind: 'nats', url: natsUrl, isDefault: natsUrl === DEFAULT_NATS_URL },
          { kind: 'redis', url: redisUrl, isDefault: redisUrl === DEFAULT_REDIS_URL },
        ],
        resolve(REPO_ROOT, '.mcpbus'),
        log,
      );
    }

    const upstreamPort = options.upstreamPort === false ? undefined : options.upstreamPort || (await freePort());
    const upstreamUrl = upstreamPort === undefined ? undefined : `http://${host}:${upstreamPort}/mcp`;
    const doc = configDoc(options.config, { upstreamUrl: upstreamUrl ?? '' });
    const settings = doc['mcpbus_settings'];
    doc['mcpbus_settings'] = { ...(typeof settings === 'object' && settings !== null ? settings : {}), subject_root: subjectRoot };
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, stringify(doc));
    const env = { ...process.env, ...options.env, NATS_URL: natsUrl, REDIS_URL: redisUrl, LOG_LEVEL: options.logLevel ?? 'warn' };
    // Fails here, with every problem listed, rather than in five processes at once.
    const config = await loadConfigFile(configPath, { env });

    let upstream: SupervisedProcess | undefined;
    if (upstreamPort !== undefined && upstreamUrl !== undefined) {
      upstream = startSupervised({
        name: 'upstream',
        role: 'upstream',
        args: ['--import', 'tsx', FIXTURE_MAIN, '--http', '--port', String(upstreamPort), '--host', host],
        cwd: REPO_ROOT,
        env: { ...process.env },
        url: upstreamUrl,
        // Any answer means it listens (a GET of a stateless server is a 405).
        probe: () => httpOk(upstreamUrl, true),
        restart,
        ...logFile('upstream'),
      });
      all.push(upstream);
    }

    const cliArgs = (role: string): string[] => ['--import', 'tsx', CLI_MAIN, 'start', '--config', configPath, '--role', role, '--host', host];
    const backend = async (role: 'worker' | 'runner', count: number): Promise<SupervisedProcess[]> => {
      const started: SupervisedProcess[] = [];
      for (let i = 1; i <= count; i += 1) {
        const healthPort = await freePort();
        const base = `http://${host}:${healthPort}`;
        started.push(startSupervised({
          name: `${role}-${i}`,
          role,
          args: [...cliArgs(role), '--health-port', String(healthPort)],
          cwd: REPO_ROOT,
          env,
          url: base,
          probe: () => httpOk(`${base}/health/readiness`),
          restart,
          ...logFile(`${role}-${i}`),
        }));
      }
      return started;
    };
    const workers = await backend('worker', options.workers ?? 2);
    const runners = await backend('runner', options.runners ?? 1);
    all.push(...workers, ...runners);

    const ingresses: SupervisedProcess[] = [];
    // Without workers an ingress is never ready (it answers 503 "none responding"); then it is
    // up once it serves at all.
    const ingressHealth = workers.length === 0 ? 'liveness' : 'readiness';
    for (let i = 1; i <= (options.ingresses ?? 2); i += 1) {
      const port = await freePort();
      const base = `http://${host}:${port}`;
      ingresses.push(startSupervised({
        name: `ingress-${i}`,
        role: 'ingress',
        args: [...cliArgs('ingress'), '--port', String(port)],
        cwd: REPO_ROOT,
        env,
        url: `${base}/mcp`,
        // Ready: NATS connected and a worker answers (what compose's healthcheck asks).
        probe: () => httpOk(`${base}/health/${ingressHealth}`),
        restart,
        ...logFile(`ingress-${i}`),
      }));
    }
    all.push(...ingresses);
    // All start at once (an ingress is ready only once a worker answers it, so nothing is rushed).
    await Promise.all(all.map((p) => p.waitReady(readyTimeoutMs)));

    const ingressUrls = ingresses.map((p) => p.url);
    proxy = await startRoundRobinProxy({ targets: ingressUrls.map((u) => new URL(u).origin), port: options.port ?? 0, host, upstreamKeepAlive: options.proxyKeepAlive === true });
    const started = proxy;
    const masterKey = config.masterKey;
    let closing: Promise<void> | undefined;
    const processes = (): SupervisedProcess[] => [...(upstream === undefined ? [] : [upstream]), ...workers, ...runners, ...ingresses];
    return {
      url: `${started.url}/mcp`,
      baseUrl: started.url,
      ingressUrls,
      subjectRoot,
      natsUrl,
      redisUrl,
      configPath,
      masterKey,
      headers: masterKey === undefined ? {} : { Authorization: `Bearer ${masterKey}` },
      upstreamUrl,
      proxy: started,
      ingresses,
      workers,
      runners,
      upstream,
      processes,
      async waitReady(timeoutMs = readyTimeoutMs) {
        await Promise.all(processes().map((p) => p.waitReady(timeoutMs)));
      },
      describe() {
        const rows: [string, string, string][] = [['proxy', String(process.pid), `${started.url}/mcp  (round robin over ${ingresses.map((p) => p.name).join(', ')})`]];
        for (const p of processes()) {
          const where = p.role === 'worker' || p.role === 'runner' ? `${p.url}/health/readiness` : p.url;
          rows.push([p.name, String(p.pid ?? '-'), where]);
        }
        return rows.map(([name, pid, where]) => `  ${name.padEnd(10)} pid ${pid.padEnd(8)} ${where}`).join('\n');
      },
      close(closeOptions = {}) {
        closing ??= cleanUp(closeOptions.graceMs ?? 10_000, closeOptions.keepData === true).catch(() => undefined);
        return closing;
      },
    };
  } catch (err: unknown) {
    await cleanUp(2_000).catch(() => undefined);
    throw err;
  }
}
