import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI_MAIN, FIXTURE_MAIN, NATS_URL, REDIS_URL, REPO_ROOT } from '../harness/paths.js';
import type { HeapReport } from './heap-probe.js';
import type { ManyToolsReady } from './many-tools-server.js';

export const BENCH_MASTER_KEY = 'sk-bench-master';
/** Name the fixture is mounted under in mcpbus, so its tools appear as `fx-echo`, … */
export const FIXTURE_SERVER_NAME = 'fx';
/** The `mcp_tools` server of the bench config, and its one tool's module. */
export const LOCAL_SERVER_NAME = 'local';
const NOOP_TOOL_MODULE = fileURLToPath(new URL('./noop-tool.ts', import.meta.url));
const HEAP_PROBE_MODULE = fileURLToPath(new URL('./heap-probe.ts', import.meta.url));
const MANY_TOOLS_MAIN = fileURLToPath(new URL('./many-tools-server.ts', import.meta.url));
/** The fixture over stdio, spawned by the workers. */
export const STDIO_SERVER_NAME = 'stdio';
/** The same upstream again, with every call run as a job. */
export const JOBS_SERVER_NAME = 'jobs';

/** A child process of the bench: an upstream or an mcpbus gateway. */
export interface BenchChild {
  readonly name: string;
  readonly pid: number;
  /** `/mcp` URL. */
  readonly url: string;
  /** How many lines of its output are warnings or errors, and the first of them. */
  warnings(): { count: number; first: string | undefined };
  /** SIGTERM, then wait for the exit (SIGKILL after `graceMs`); idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** The child's memory after a full GC (children started with `heapProbe`), else undefined. */
  heap(): Promise<HeapReport | undefined>;
}

export interface ChildOptions {
  /** Extra node flags for the child, e.g. `--cpu-prof`. */
  nodeFlags?: readonly string[];
  /** Preload `heap-probe.ts` (and `--expose-gc`), so `heap()` can report the live heap. */
  heapProbe?: boolean;
}

const live = new Set<ChildProcess>();
let tempDir: string | undefined;

// Whatever happens to the bench (error, Ctrl-C, exit), no child outlives it.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
});

/** Stops every child still running (graceful first); used on error and on signals. */
export async function stopAllChildren(graceMs = 5_000): Promise<void> {
  await Promise.allSettled([...live].map((child) => stopChild(child, graceMs)));
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A port that was free a moment ago (the children need a fixed `--port`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Spawned {
  child: ChildProcess;
  stderrTail: () => string;
  warnings: () => { count: number; first: string | undefined };
  heapFile: string | undefined;
}

function benchTempDir(): string {
  tempDir ??= mkdtempSync(join(tmpdir(), 'mcpbus-bench-'));
  return tempDir;
}

function spawnNode(name: string, args: string[], env: NodeJS.ProcessEnv, options: ChildOptions): Spawned {
  const heapFile = options.heapProbe === true ? join(benchTempDir(), `heap-${name}-${randomBytes(4).toString('hex')}.json`) : undefined;
  // The probe is TypeScript: it is imported after tsx.
  const probe = heapFile === undefined ? [] : ['--import', HEAP_PROBE_MODULE];
  const flags = [...(options.nodeFlags ?? []), ...(heapFile === undefined ? [] : ['--expose-gc'])];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', ...probe, ...args], {
    cwd: REPO_ROOT,
    env: heapFile === undefined ? env : { ...env, MCPBUS_BENCH_HEAP_FILE: heapFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let tail = '';
  let warningCount = 0;
  let firstWarning: string | undefined;
  // Node warnings on stderr, pino records at warn and above (`"level":40`+) on stdout.
  const scan = (chunk: Buffer): void => {
    const text = chunk.toString();
    tail = (tail + text).slice(-4_000);
    for (const line of text.split('\n')) {
      if (!/warn|"level":[4-6]0/i.test(line)) continue;
      warningCount += 1;
      firstWarning ??= line.slice(0, 300);
    }
  };
  child.stdout?.on('data', scan);
  child.stderr?.on('data', scan);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  return { child, stderrTail: () => tail, warnings: () => ({ count: warningCount, first: firstWarning }), heapFile };
}

function readHeapReport(file: string): HeapReport | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as HeapReport;
}

/** Asks the child's heap probe for a report (SIGUSR2) and waits for it. */
async function requestHeap(child: ChildProcess, file: string, timeoutMs = 10_000): Promise<HeapReport | undefined> {
  const before = readHeapReport(file)?.seq ?? 0;
  child.kill('SIGUSR2');
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const report = readHeapReport(file);
    if (report !== undefined && report.seq > before) return report;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

/** Polls `probe` until it answers true; fails early when the child exits. */
async function waitUntil(name: string, { child, stderrTail }: Spawned, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderrTail()}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} was not ready within ${timeoutMs} ms:\n${stderrTail()}`);
}

function handle(name: string, { child, warnings, heapFile }: Spawned, url: string): BenchChild {
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid: child.pid ?? 0,
    url,
    warnings,
    heap: () => (heapFile === undefined ? Promise.resolve(undefined) : requestHeap(child, heapFile)),
    stop(graceMs = 10_000) {
      stopping ??= stopChild(child, graceMs);
      return stopping;
    },
  };
}

/** The fixture server over Streamable HTTP, as a child process. */
export async function startFixtureChild(options: ChildOptions = {}): Promise<BenchChild> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const spawned = spawnNode('fixture', [FIXTURE_MAIN, '--http', '--port', String(port)], process.env, options);
  // Any HTTP answer means it listens (GET /mcp on a stateless server is a 405).
  await waitUntil('fixture', spawned, async () => (await fetch(url, { method: 'GET' })).status > 0);
  return handle('fixture', spawned, url);
}

export interface McpbusChildren {
  /** `/mcp` URL of the ingress. */
  url: string;
  /** One child (ingress + worker + runner), or with `split` one child per role. */
  children: BenchChild[];
  /** The subject root the children use, for benchmarks that talk to the bus directly. */
  subjectRoot: string;
}

/** Writes an mcpbus config.yaml into the bench's temporary directory (removed on exit). */
export function writeConfigFile(config: Record<string, unknown>): string {
  const configPath = join(benchTempDir(), `config-${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(configPath, stringify(config));
  return configPath;
}

function writeConfig(upstreamUrl: string, subjectRoot: string): string {
  return writeConfigFile({
      // The same upstream twice: `fx` answers inline, every call of `jobs` runs as a BullMQ job.
      // `stdio`: the fixture again, as a child of each worker (the bus benchmark's stdio upstream).
      mcp_servers: {
        [FIXTURE_SERVER_NAME]: { url: upstreamUrl },
        [JOBS_SERVER_NAME]: { url: upstreamUrl, execution: 'job' },
        [STDIO_SERVER_NAME]: { transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio'], cwd: REPO_ROOT },
      },
      general_settings: { master_key: BENCH_MASTER_KEY },
      // An in-process tool (no upstream I/O): the job benchmark's measure of the engine alone.
      mcp_tools: [{ name: 'noop', input_schema: { type: 'object', properties: { text: { type: 'string' } } }, handler: `${NOOP_TOOL_MODULE}#noop` }],
      mcpbus_settings: { subject_root: subjectRoot, job_concurrency: 256 },
  });
}

/** One mcpbus process: a name for the tables and the roles it runs. */
export interface McpbusProcess {
  name: string;
  roles: string[];
}

/**
 * mcpbus processes on one config: `background` first (workers, runners), then the process
 * holding the ingress role, which comes first in `children`. Ready once the ingress's
 * `/health/readiness` is 200, which also means a worker answers.
 */
export async function startMcpbusProcesses(configPath: string, background: readonly McpbusProcess[], ingress: McpbusProcess, childOptions: (name: string) => ChildOptions = () => ({})): Promise<{ url: string; children: BenchChild[] }> {
  const env = { ...process.env, NATS_URL: process.env['NATS_URL'] ?? NATS_URL, REDIS_URL: process.env['REDIS_URL'] ?? REDIS_URL, LOG_LEVEL: 'warn' };
  const start = async ({ name, roles }: McpbusProcess): Promise<{ spawned: Spawned; port: number }> => {
    const port = await freePort();
    const args = [CLI_MAIN, 'start', '--config', configPath, '--port', String(port), ...roles.flatMap((r) => ['--role', r])];
    return { spawned: spawnNode(name, args, env, childOptions(name)), port };
  };
  const children: BenchChild[] = [];
  for (const p of background) children.push(handle(p.name, (await start(p)).spawned, ''));
  const front = await start(ingress);
  const base = `http://127.0.0.1:${front.port}`;
  children.unshift(handle(ingress.name, front.spawned, `${base}/mcp`));
  await waitUntil(ingress.name, front.spawned, async () => (await fetch(`${base}/health/readiness`)).status === 200);
  return { url: `${base}/mcp`, children };
}

/**
 * mcpbus as child process(es) mounting the given upstream URL as server `fx`, under a subject
 * root of its own: one `start --role ingress --role worker --role runner` process, or with
 * `split` one process per role (two cores' worth).
 */
export async function startMcpbusChildren(upstreamUrl: string, options: { split?: boolean; childOptions?: (name: string) => ChildOptions } = {}): Promise<McpbusChildren> {
  const subjectRoot = `bench${randomBytes(6).toString('hex')}`;
  const configPath = writeConfig(upstreamUrl, subjectRoot);
  const split = options.split === true;
  const background = split ? [{ name: 'mcpbus-worker', roles: ['worker'] }, { name: 'mcpbus-runner', roles: ['runner'] }] : [];
  const ingress = split ? { name: 'mcpbus-ingress', roles: ['ingress'] } : { name: 'mcpbus', roles: ['ingress', 'worker', 'runner'] };
  const { url, children } = await startMcpbusProcesses(configPath, background, ingress, options.childOptions);
  return { url, children, subjectRoot };
}

/** A TypeScript helper script of the bench as a child with an IPC channel (stopped with the others on exit). */
export function spawnIpcChild(name: string, script: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, env: process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  return child;
}

/** Where the many-tools upstreams listen (see many-tools-server.ts). */
export interface ManyToolsChild extends ManyToolsReady {
  child: BenchChild;
}

/** `servers` generated upstreams of `tools` tools each in one child process, plus the broken ones. */
export async function startManyToolsChild(servers: number, tools: number): Promise<ManyToolsChild> {
  const spawned = spawnNode('many-tools', [MANY_TOOLS_MAIN, '--servers', String(servers), '--tools', String(tools)], process.env, {});
  let ready: ManyToolsReady | undefined;
  await waitUntil('many-tools', spawned, () => {
    const line = /^\{"port".*\}$/m.exec(spawned.stderrTail())?.[0];
    if (line !== undefined) ready = JSON.parse(line) as ManyToolsReady;
    return Promise.resolve(ready !== undefined);
  });
  if (ready === undefined) throw new Error('many-tools server did not report its ports');
  return { ...ready, child: handle('many-tools', spawned, `http://127.0.0.1:${ready.port}`) };
}
