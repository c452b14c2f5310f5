import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI_MAIN, NATS_URL, REDIS_URL, REPO_ROOT } from './paths.js';

const dir = mkdtempSync(join(tmpdir(), 'mcpbus-test-'));

/** Writes a config (a YAML string, or a document to stringify) to a fresh temporary file. */
export function writeConfig(doc: unknown): string {
  const path = join(dir, `${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
  return path;
}

export type CliProcess = ChildProcess & { output: () => string; exited: Promise<number | null> };

/** `mcpbus <args>` as a child process against the test NATS and Redis, its output collected. */
export function cli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NATS_URL, REDIS_URL, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return Object.assign(child, { output: () => output, exited });
}
