import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isListening, runRoles, type RolesHandle } from '@mcpbus/cli';
import { connect } from '@mcpbus/client';
import { loadRuntimeEnv, parseConfig } from '@mcpbus/config';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { silentLogger } from '@mcpbus/logging';
import { createSubjects } from '@mcpbus/protocol';
import { stringify } from 'yaml';
import { MASTER_KEY } from '../harness/gateway.js';
import { REDIS_URL, REPO_ROOT } from '../harness/paths.js';
import { cli } from '../harness/processes.js';
import { freePort } from '../harness/wait.js';

// examples/nats-auth.conf on a nats-server of this test's own: mcpbus connects as its user (the
// credentials written in NATS_URL), a platform as the restricted one, which can use the whole bus
// API but not the KV buckets where keys, teams and servers live.
const MCPBUS_PASSWORD = 'mcpbus-pw-test';
const PLATFORM_PASSWORD = 'platform-pw-test';
let nats: ChildProcess;
let port: number;
let dir: string;
let http: FixtureHttpHandle;
let roles: RolesHandle;

beforeAll(async () => {
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'mcpbus-nats-auth-'));
  nats = spawn('nats-server', ['-c', join(REPO_ROOT, 'examples/nats-auth.conf'), '-a', '127.0.0.1', '-p', String(port), '-sd', dir], {
    env: { ...process.env, MCPBUS_NATS_PASSWORD: MCPBUS_PASSWORD, PLATFORM_NATS_PASSWORD: PLATFORM_PASSWORD },
    stdio: 'ignore',
  });
  for (let i = 0; i < 200 && !(await isListening('127.0.0.1', port, 200)); i += 1) await new Promise((r) => setTimeout(r, 50));
  http = await startFixtureHttp({ port: 0 });
  const config = parseConfig(stringify({ mcp_servers: { web: { url: http.url } }, general_settings: { master_key: MASTER_KEY } }), { env: {} });
  const runtime = loadRuntimeEnv({ NATS_URL: `nats://mcpbus:${MCPBUS_PASSWORD}@127.0.0.1:${port}`, REDIS_URL });
  roles = await runRoles({ config, runtime, roles: ['worker', 'runner'], port: 0, host: '127.0.0.1', log: silentLogger() });
});

afterAll(async () => {
  await roles?.close();
  await http?.close();
  nats?.kill('SIGKILL');
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function platform(): Promise<NatsConnection> {
  return natsConnect({ servers: `127.0.0.1:${port}`, user: 'platform', pass: PLATFORM_PASSWORD });
}

describe('examples/nats-auth.conf', () => {
  it('lets mcpbus connect with the credentials in NATS_URL', async () => {
    const refused = cli(['tools'], { NATS_URL: `nats://platform:wrong@127.0.0.1:${port}`, MCPBUS_API_KEY: MASTER_KEY });
    expect(await refused.exited).not.toBe(0);
    const listed = cli(['tools'], { NATS_URL: `nats://platform:${PLATFORM_PASSWORD}@127.0.0.1:${port}`, MCPBUS_API_KEY: MASTER_KEY });
    expect(await listed.exited, listed.output()).toBe(0);
    expect(listed.output()).toContain('web-echo');
  });

  it('gives a platform the whole bus API, durable submissions included', async () => {
    const client = await connect({ servers: `127.0.0.1:${port}`, nats: { user: 'platform', pass: PLATFORM_PASSWORD }, apiKey: MASTER_KEY });
    try {
      expect(await client.callTool('web-echo', { text: 'as a platform' })).toEqual({ content: [{ type: 'text', text: 'as a platform' }] });
      const submitted = await client.submit('web-echo', { text: 'durable' });
      expect(await submitted.result()).toEqual({ content: [{ type: 'text', text: 'durable' }] });
    } finally {
      await client.close();
    }
  });

  it('keeps a platform out of the KV buckets of keys, teams and servers', async () => {
    const nc = await platform();
    try {
      const buckets = createSubjects('mcpbus').buckets;
      await expect(new Kvm(nc).open(buckets.keys).then((kv) => kv.put('forged', '{}'))).rejects.toThrow();
      nc.publish(`$KV.${buckets.servers}.forged`, '{"v":1}');
      await nc.flush();
      const admin = await natsConnect({ servers: `127.0.0.1:${port}`, user: 'mcpbus', pass: MCPBUS_PASSWORD });
      try {
        await new Promise((r) => setTimeout(r, 200));
        expect(await (await new Kvm(admin).open(buckets.servers)).get('forged')).toBeNull();
      } finally {
        await admin.close();
      }
    } finally {
      await nc.close().catch(() => undefined);
    }
  });
});
