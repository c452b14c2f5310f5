// Runs the official MCP conformance suite (its server scenarios) twice: straight at the reference
// server, and at the same server mounted in mcpbus as its only upstream (`/mcp/conformance`).
// The suite needs Node 22 (it imports `fs.globSync`), so it runs as a child process on the
// `node22` package's binary; mcpbus and the reference server run in this process, on its Node.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startGateway, type TestGateway } from '../../test/harness/gateway.js';
import { startReferenceServer, type ReferenceServerHandle } from './reference-server.js';

const require = createRequire(import.meta.url);

/** Where the suite and the Node 22 binary that runs it live. */
export const SUITE = {
  node: join(dirname(require.resolve('node22/package.json')), 'bin/node'),
  cli: join(dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist/index.js'),
  version: (require('@modelcontextprotocol/conformance/package.json') as { version: string }).version,
} as const;

/** The name the reference server is mounted under in mcpbus. */
export const SERVER_NAME = 'conformance';

/**
 * `pass`: some check succeeded and none failed; `fail`: some check failed; `skipped`: no check
 * succeeded or failed (the suite reports it as passed, but it tested nothing, e.g. the session
 * scenarios against a server without sessions); `missing`: the scenario did not run.
 */
export type Verdict = 'pass' | 'fail' | 'skipped' | 'missing';

/** One scenario's outcome in one run. */
export interface ScenarioOutcome {
  verdict: Verdict;
  passed: number;
  failed: number;
  warnings: number;
  /** Ids of the failed checks. */
  failedChecks: string[];
  /** `id: message` of each failed check, for the report. */
  failures: string[];
}

export interface ScenarioRow {
  scenario: string;
  direct: ScenarioOutcome;
  mcpbus: ScenarioOutcome;
}

export interface ConformanceRun {
  rows: ScenarioRow[];
  suiteVersion: string;
  nodeVersion: string;
  durationMs: number;
}

export interface RunOptions {
  /** `--suite` of the conformance CLI (default `all`: active, pending, draft and extension scenarios). */
  suite?: string;
  /** One scenario only. */
  scenario?: string;
  /** Per-run deadline of the conformance CLI (default 240 s). */
  timeoutMs?: number;
  /** Keep each run's `checks.json` files in this directory instead of a temporary one. */
  outputDir?: string;
  /**
   * An already-running reference server's MCP endpoint (e.g. the suite's own everything-server),
   * used instead of starting the in-repo one: the direct run goes to it and mcpbus mounts it.
   */
  referenceUrl?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

interface CheckRecord {
  id: string;
  status: string;
  errorMessage?: string;
}

function runSuite(url: string, outputDir: string, options: RunOptions): Promise<string> {
  const args = [SUITE.cli, 'server', '--url', url, '--output-dir', outputDir];
  args.push(...(options.scenario !== undefined ? ['--scenario', options.scenario] : ['--suite', options.suite ?? 'all']));
  const child = spawn(SUITE.node, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timeoutMs = options.timeoutMs ?? 240_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the conformance suite did not finish within ${timeoutMs} ms against ${url}\n${output.slice(-4000)}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start the conformance suite (${SUITE.node})`, { cause: err }));
    });
    // Exit 1 only means some scenario failed; the verdicts come from the checks.json files.
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 || code === 1) resolve(output);
      else reject(new Error(`the conformance suite exited with ${code} against ${url}\n${output.slice(-4000)}`));
    });
  });
}

// The CLI writes one `server-<scenario>-<ISO timestamp>/checks.json` per scenario.
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/;

function readOutcomes(outputDir: string): Map<string, ScenarioOutcome> {
  const outcomes = new Map<string, ScenarioOutcome>();
  for (const entry of readdirSync(outputDir)) {
    const scenario = RESULT_DIR.exec(entry)?.[1];
    if (scenario === undefined) continue;
    const checks = JSON.parse(readFileSync(join(outputDir, entry, 'checks.json'), 'utf8')) as CheckRecord[];
    const failed = checks.filter((c) => c.status === 'FAILURE');
    const passed = checks.filter((c) => c.status === 'SUCCESS').length;
    outcomes.set(scenario, {
      verdict: failed.length > 0 ? 'fail' : passed > 0 ? 'pass' : 'skipped',
      passed,
      failed: failed.length,
      warnings: checks.filter((c) => c.status === 'WARNING').length,
      failedChecks: [...new Set(failed.map((c) => c.id))],
      failures: [...new Set(failed.map((c) => `${c.id}: ${(c.errorMessage ?? '').slice(0, 300)}`))],
    });
  }
  return outcomes;
}

const MISSING: ScenarioOutcome = { verdict: 'missing', passed: 0, failed: 0, warnings: 0, failedChecks: [], failures: ['the scenario did not run'] };

/**
 * Starts the reference server (unless `referenceUrl` names one) and mcpbus, runs the suite against
 * both, and stops what it started.
 */
export async function runConformance(options: RunOptions = {}): Promise<ConformanceRun> {
  const log = options.log ?? ((): void => {});
  const started = Date.now();
  const work = options.outputDir ?? mkdtempSync(join(tmpdir(), 'mcpbus-conformance-'));
  let reference: ReferenceServerHandle | undefined;
  let gateway: TestGateway | undefined;
  try {
    let referenceUrl = options.referenceUrl;
    if (referenceUrl === undefined) {
      reference = await startReferenceServer();
      referenceUrl = reference.url;
    }
    // No master key: the suite's client sends no headers of its own.
    gateway = await startGateway({ servers: { [SERVER_NAME]: { url: referenceUrl } }, masterKey: null });
    const throughMcpbus = gateway.url.replace(/\/mcp$/, `/mcp/${SERVER_NAME}`);
    log(`reference server ${referenceUrl}${reference === undefined ? ' (external)' : ''}; through mcpbus ${throughMcpbus} (subject root ${gateway.config.settings.subjectRoot})`);
    const directDir = join(work, 'direct');
    const mcpbusDir = join(work, 'mcpbus');
    log('running the suite against the reference server…');
    await runSuite(referenceUrl, directDir, options);
    log('running the suite through mcpbus…');
    await runSuite(throughMcpbus, mcpbusDir, options);
    const direct = readOutcomes(directDir);
    const mcpbus = readOutcomes(mcpbusDir);
    const scenarios = [...new Set([...direct.keys(), ...mcpbus.keys()])];
    scenarios.sort();
    const rows = scenarios.map((scenario) => ({ scenario, direct: direct.get(scenario) ?? MISSING, mcpbus: mcpbus.get(scenario) ?? MISSING }));
    const nodeVersion = await new Promise<string>((resolve) => {
      const child = spawn(SUITE.node, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.once('exit', () => resolve(out.trim()));
      child.once('error', () => resolve('unknown'));
    });
    return { rows, suiteVersion: SUITE.version, nodeVersion, durationMs: Date.now() - started };
  } finally {
    await gateway?.close().catch(() => undefined);
    await reference?.close().catch(() => undefined);
    if (options.outputDir === undefined) rmSync(work, { recursive: true, force: true });
  }
}
