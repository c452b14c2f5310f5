import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureInfra, isListening } from '@mcpbus/cli';
import { silentLogger } from '@mcpbus/logging';
import { freePort } from '../harness/wait.js';


describe('mcpbus start brings its own NATS and Redis when none is running', () => {
  it('launches nats-server and redis-server with data under the data root, and stops them', async () => {
    const [natsPort, redisPort] = [await freePort(), await freePort()];
    const dataRoot = mkdtempSync(join(tmpdir(), 'mcpbus-data-'));
    const infra = await ensureInfra(
      [
        { kind: 'nats', url: `nats://127.0.0.1:${natsPort}`, isDefault: true },
        { kind: 'redis', url: `redis://127.0.0.1:${redisPort}`, isDefault: true },
      ],
      dataRoot,
      silentLogger(),
    );
    expect(await isListening('127.0.0.1', natsPort)).toBe(true);
    expect(await isListening('127.0.0.1', redisPort)).toBe(true);
    await infra.stop();
    expect(await isListening('127.0.0.1', natsPort)).toBe(false);
    expect(await isListening('127.0.0.1', redisPort)).toBe(false);
  });

  it('leaves an explicitly configured URL alone and says what to do when it is down', async () => {
    const port = await freePort();
    await expect(ensureInfra([{ kind: 'nats', url: `nats://127.0.0.1:${port}`, isDefault: false }], tmpdir(), silentLogger())).rejects.toThrow(
      /nats is not reachable at nats:\/\/127\.0\.0\.1:\d+; start it there, or unset NATS_URL/,
    );
  });

  it('uses servers that are already running instead of starting new ones', async () => {
    const infra = await ensureInfra([{ kind: 'nats', url: 'nats://127.0.0.1:4222', isDefault: true }], tmpdir(), silentLogger());
    await infra.stop();
    expect(await isListening('127.0.0.1', 4222)).toBe(true);
  });
});
