import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isListening } from '@mcpbus/cli';
import { freePort } from './wait.js';

/**
 * A nats-server or redis-server of a test's own, on a free port with its data in a temporary
 * directory, for tests that stop and restart it: the machine's shared servers on the default
 * ports serve every other test file running at the same time.
 */
export interface OwnServer {
  readonly kind: 'nats' | 'redis';
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Kills the server (SIGKILL by default: a crash, not a shutdown) and waits for its exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same data directory; resolves once it listens. */
  start(): Promise<void>;
  /** Stops it and removes its data. Idempotent. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function commandOf(kind: 'nats' | 'redis', port: number, dir: string): [string, string[]] {
  if (kind === 'nats') return ['nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir]];
  // As compose runs it: an append-only file (what a restart recovers from), no RDB snapshots,
  // and BullMQ's required eviction policy.
  return ['redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']];
}

export async function startOwnServer(kind: 'nats' | 'redis'): Promise<OwnServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `mcpbus-own-${kind}-`));
  const [binary, args] = commandOf(kind, port, dir);
  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    const current = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = current;
    live.add(current);
    current.once('exit', () => live.delete(current));
    const keep = (chunk: Buffer): void => void (output = (output + chunk.toString()).slice(-8_000));
    current.stdout?.on('data', keep);
    current.stderr?.on('data', keep);
    const until = Date.now() + 15_000;
    while (!(await isListening('127.0.0.1', port, 200))) {
      if (current.exitCode !== null || current.signalCode !== null || Date.now() > until) throw new Error(`${binary} did not start on port ${port}:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    current.kill(signal);
    await exited;
  }

  await start();
  let closing: Promise<void> | undefined;
  return {
    kind,
    url: `${kind === 'nats' ? 'nats' : 'redis'}://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    kill,
    start,
    close() {
      closing ??= (async () => {
        await kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
