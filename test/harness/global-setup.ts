import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';

/**
 * The e2e suite talks to a real nats-server (with JetStream) and redis-server. Machines here
 * run both on their default ports; on a machine that does not, this starts them there (the
 * binaries must be installed: Debian packages nats-server and redis-server) and stops them after.
 */
const SERVICES = [
  { name: 'nats-server', port: 4222, args: (dir: string) => ['-a', '127.0.0.1', '-p', '4222', '-js', '-sd', dir] },
  { name: 'redis-server', port: 6379, args: (dir: string) => ['--bind', '127.0.0.1', '--port', '6379', '--dir', dir, '--save', '', '--appendonly', 'no'] },
] as const;

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export default async function setup(): Promise<() => Promise<void>> {
  const started: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'mcpbus-infra-'));
  for (const service of SERVICES) {
    if (await listening(service.port)) continue;
    const child = spawn(service.name, service.args(dir), { stdio: 'ignore' });
    child.once('error', (err) => {
      throw new Error(`${service.name} is not running on 127.0.0.1:${service.port} and could not be started (${err.message}); install it (apt-get install ${service.name})`);
    });
    started.push(child);
    const until = Date.now() + 10_000;
    while (!(await listening(service.port))) {
      if (Date.now() > until) throw new Error(`${service.name} did not start on port ${service.port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return () => {
    for (const child of started) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve();
  };
}
