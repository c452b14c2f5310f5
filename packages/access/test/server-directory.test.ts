import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type McpbusConfig } from '@mcpbus/config';
import { silentLogger } from '@mcpbus/logging';
import { createSubjects } from '@mcpbus/protocol';
import { startServerDirectory, type ServerDirectory, type StoredServer } from '../src/server-directory.js';

// Two replicas on one subject root whose configs differ: each judges what it reads from KV by
// its own config (the SSRF allow-list it connects with, the stdio commands it will run).
let nc: NatsConnection;
const root = `t${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  nc = await connect({ servers: 'nats://127.0.0.1:4222', name: 'server-directory-test' });
});

afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${createSubjects(root).buckets.servers}`).catch(() => undefined);
  await nc.drain();
});

function configOf(settings: string): McpbusConfig {
  const yaml = `mcp_servers:\n  fixed:\n    url: http://127.0.0.1:9/mcp\ngeneral_settings:\n  master_key: sk-directory-test\nmcpbus_settings:\n  subject_root: ${root}\n${settings}`;
  return parseConfig(yaml, { env: {} });
}

const stored = (id: string, name: string, entry: Record<string, unknown>): StoredServer => ({ v: 1, server_id: id, server_name: name, entry, created_at: '', updated_at: '' });

async function until(probe: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !probe(); i += 1) await new Promise((r) => setTimeout(r, 10));
}

describe('startServerDirectory', () => {
  let loose: ServerDirectory;
  let strict: ServerDirectory;

  beforeAll(async () => {
    loose = await startServerDirectory(nc, configOf("  upstream_url_allowlist: ['127.0.0.1']\n  api_stdio_commands: ['node']\n"), silentLogger());
    strict = await startServerDirectory(nc, configOf(''), silentLogger());
  });

  afterAll(async () => {
    await Promise.all([loose?.close(), strict?.close()]);
  });

  it('guards every API server with the reading replica\'s own allow-list, never config.yaml\'s', async () => {
    await loose.mirror?.write('web-1', stored('web-1', 'web', { url: 'http://127.0.0.1:9/mcp' }));
    await until(() => strict.get('web') !== undefined);
    expect(loose.get('web')?.ssrfAllowlist).toEqual(['127.0.0.1']);
    expect(strict.get('web')?.ssrfAllowlist).toEqual([]);
    expect(strict.get('fixed')?.ssrfAllowlist).toBeUndefined();
    expect(strict.origin('web')).toBe('api');
    expect(strict.origin('fixed')).toBe('config');
  });

  it('runs a stored stdio server only where api_stdio_commands allows it', async () => {
    const changes: string[] = [];
    const stop = strict.onChange((c) => changes.push(c.name));
    await loose.mirror?.write('cmd-1', stored('cmd-1', 'cmd', { command: 'node', args: ['server.js'] }));
    await until(() => loose.get('cmd') !== undefined);
    await new Promise((r) => setTimeout(r, 100));
    stop();
    expect(loose.get('cmd')?.transport).toBe('stdio');
    expect(strict.get('cmd')).toBeUndefined();
    expect(changes).not.toContain('cmd');
  });

  it('resolves grant references by id through renames, and not at all once the server is gone', async () => {
    expect(strict.refOf('web')).toBe('web-1');
    expect(strict.refOf('web-1')).toBe('web-1');
    expect(strict.refOf('fixed')).toBe('fixed');
    expect(strict.refOf('nope')).toBeUndefined();
    await loose.mirror?.write('web-1', stored('web-1', 'web2', { url: 'http://127.0.0.1:9/mcp' }));
    await until(() => strict.get('web2') !== undefined);
    expect(strict.resolveRef('web-1')).toBe('web2');
    expect(strict.get('web')).toBeUndefined();
    await loose.mirror?.remove('web-1');
    await until(() => strict.get('web2') === undefined);
    expect(strict.resolveRef('web-1')).toBeUndefined();
  });

  it('refuses names that are taken, by name in any case or by id', () => {
    expect(strict.nameTaken('FIXED')).toContain('config.yaml');
    expect(strict.nameTaken('cmd-1')).toContain('server_id');
    expect(strict.nameTaken('fresh')).toBeUndefined();
  });
});
