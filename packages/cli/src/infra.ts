import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { redactUrl } from '@mcpbus/protocol';
import type { Logger } from 'pino';

/** True when something accepts TCP connections at host:port within `timeoutMs`. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (up: boolean): void => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function onPath(binary: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = spawn('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    probe.once('exit', (code) => resolve(code === 0));
    probe.once('error', () => resolve(false));
  });
}

export interface InfraService {
  /** nats or redis */
  readonly kind: 'nats' | 'redis';
  readonly url: string;
  /** Whether the URL is the default one (only then may mcpbus start the server itself). */
  readonly isDefault: boolean;
}

export interface LaunchedInfra {
  stop(): Promise<void>;
}

const INSTALL_HINT = {
  nats: 'install nats-server (Debian/Ubuntu: "apt-get install nats-server"; macOS: "brew install nats-server") or set NATS_URL to a running NATS server with JetStream',
  redis: 'install redis-server (Debian/Ubuntu: "apt-get install redis-server"; macOS: "brew install redis") or set REDIS_URL to a running Redis',
} as const;

function commandFor(kind: 'nats' | 'redis', host: string, port: number, dataDir: string): [string, string[]] {
  if (kind === 'nats') return ['nats-server', ['-a', host, '-p', String(port), '-js', '-sd', dataDir]];
  return ['redis-server', ['--bind', host, '--port', String(port), '--dir', dataDir, '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']];
}

/**
 * Makes sure NATS / Redis answer at their URLs. When one does not, the URL is the default and
 * the server binary is installed, it is started as a child with its data under `dataRoot`;
 * otherwise this throws an error that says exactly what to install or set.
 */
export async function ensureInfra(services: readonly InfraService[], dataRoot: string, log: Logger): Promise<LaunchedInfra> {
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    for (const service of services) {
      const url = new URL(service.url);
      const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname;
      const port = Number(url.port || (service.kind === 'nats' ? 4222 : 6379));
      if (await isListening(host, port)) continue;
      const [binary, args] = commandFor(service.kind, host, port, join(dataRoot, service.kind));
      if (!service.isDefault) throw new Error(`${service.kind} is not reachable at ${redactUrl(service.url)}; start it there, or unset ${service.kind === 'nats' ? 'NATS_URL' : 'REDIS_URL'} to let mcpbus start a local one`);
      if (!(await onPath(binary))) throw new Error(`${service.kind} is not running at ${redactUrl(service.url)} and "${binary}" is not installed: ${INSTALL_HINT[service.kind]}`);
      mkdirSync(join(dataRoot, service.kind), { recursive: true });
      const logFd = openSync(join(dataRoot, `${service.kind}.log`), 'a');
      const child = spawn(binary, args, { stdio: ['ignore', logFd, logFd] });
      children.push(child);
      log.info({ binary, port, dataDir: join(dataRoot, service.kind) }, `started local ${service.kind}`);
      const until = Date.now() + 10_000;
      while (!(await isListening(host, port))) {
        if (child.exitCode !== null || Date.now() > until) throw new Error(`${binary} did not start; see ${join(dataRoot, `${service.kind}.log`)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err: unknown) {
    await stop();
    throw err;
  }
  return { stop };
}
