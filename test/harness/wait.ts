import { createServer } from 'node:net';

/** A TCP port nothing listens on (bound once on loopback, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Runs `attempt` until it resolves (its value is returned) or `timeoutMs` passes (its last
 * error is thrown). For waiting on events the system does not announce, such as a restarted
 * upstream coming back.
 */
export async function eventually<T>(attempt: () => Promise<T>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const until = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await attempt();
    } catch (err: unknown) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
    }
  }
}
