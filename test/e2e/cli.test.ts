import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connectClient, textOf } from '../harness/clients.js';
import { startFixtureHttp } from '@mcpbus/fixture-server';
import { MASTER_KEY, deleteSubmitStream, fixtureStdio, startGateway } from '../harness/gateway.js';
import { cli, writeConfig } from '../harness/processes.js';
import { eventually, freePort } from '../harness/wait.js';

describe('mcpbus start', () => {
  it('refuses a bad config, listing every problem by path, with a non-zero exit', async () => {
    const path = writeConfig({
      mcp_servers: { github: { url: 'not a url' }, 'bad-name': { command: 'x' }, local: { transport: 'stdio' } },
      general_settings: { master_key: 'os.environ/MCPBUS_TEST_UNSET_KEY' },
    });
    const run = cli(['start', '--config', path, '--port', '0']);
    expect(await run.exited).not.toBe(0);
    const out = run.output();
    expect(out).toContain('mcp_servers.github.url: must be a URL');
    expect(out).toContain('mcp_servers.bad-name');
    expect(out).toContain('mcp_servers.local.command');
    expect(out).toContain('general_settings.master_key: environment variable MCPBUS_TEST_UNSET_KEY is not set');
  });

  it('rejects an unknown role', async () => {
    const run = cli(['start', '--config', writeConfig({}), '--role', 'bogus']);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain('unknown role "bogus"');
  });

  it('runs the roles it is given, and on SIGTERM drains an in-flight call before exiting 0', async () => {
    const port = await freePort();
    const root = `t${randomBytes(6).toString('hex')}`;
    const path = writeConfig({
      mcp_servers: { fx: fixtureStdio() },
      general_settings: { master_key: 'sk-cli' },
      mcpbus_settings: { subject_root: root },
    });
    const run = cli(['start', '--config', path, '--port', String(port), '--role', 'ingress', '--role', 'worker']);
    try {
      const base = `http://127.0.0.1:${port}`;
      await eventually(async () => {
        if ((await fetch(`${base}/health/readiness`)).status !== 200) throw new Error('not ready yet');
      }, { timeoutMs: 20_000 });
      expect(run.output()).not.toContain('runner ready');
      const client = await connectClient('v2-legacy', `${base}/mcp`, { Authorization: 'Bearer sk-cli' });
      const call = client.callTool('fx-slow', { steps: 10, delayMs: 100 });
      await new Promise((r) => setTimeout(r, 300));
      run.kill('SIGTERM');
      expect(textOf(await call)).toBe('done after 10 steps');
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain('draining in-flight calls');
      await client.close().catch(() => undefined);
    } finally {
      run.kill('SIGKILL');
      await deleteSubmitStream(root);
    }
  });
});

describe('mcpbus start --health-port', () => {
  it('serves readiness for a worker-only process, and stops with it', async () => {
    const healthPort = await freePort();
    const root = `t${randomBytes(6).toString('hex')}`;
    const path = writeConfig({ mcp_servers: { fx: fixtureStdio() }, mcpbus_settings: { subject_root: root } });
    const run = cli(['start', '--config', path, '--role', 'worker', '--health-port', String(healthPort)]);
    try {
      await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${healthPort}/health/readiness`);
        if (res.status !== 200) throw new Error(`readiness ${res.status}`);
      }, { timeoutMs: 20_000 });
      expect((await fetch(`http://127.0.0.1:${healthPort}/health/liveness`)).status).toBe(200);
      run.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      await expect(fetch(`http://127.0.0.1:${healthPort}/health/liveness`)).rejects.toThrow();
    } finally {
      run.kill('SIGKILL');
      await deleteSubmitStream(root);
    }
  });
});

describe('mcpbus tools, call and submit', () => {
  it('list, call (progress on stderr) and submit over the bus of a running mcpbus, with clear errors otherwise', async () => {
    const http = await startFixtureHttp({ port: 0 });
    const gateway = await startGateway({ servers: { web: { url: http.url } }, runners: 1 });
    const bus = ['--root', gateway.config.settings.subjectRoot, '--key', MASTER_KEY];
    try {
      const tools = cli(['tools', ...bus]);
      expect(await tools.exited).toBe(0);
      expect(tools.output()).toMatch(/^web-echo\s+Returns the given text unchanged\./m);

      const call = cli(['call', 'web-slow', '--args', '{"steps":2,"delayMs":10}', ...bus]);
      expect(await call.exited).toBe(0);
      expect(call.output()).toContain('progress 1/2  step 1/2');
      expect(call.output()).toContain('progress 2/2  step 2/2');
      expect(call.output()).toContain('"text": "done after 2 steps"');

      const submit = cli(['submit', 'web-echo', '--args', '{"text":"queued"}', '--id', 'cli-submit-1', ...bus]);
      expect(await submit.exited).toBe(0);
      expect(submit.output()).toContain('cli-submit-1');
      expect(submit.output()).toContain('"text": "queued"');

      const wrongKey = cli(['tools', '--root', gateway.config.settings.subjectRoot, '--key', 'sk-wrong']);
      expect(await wrongKey.exited).toBe(1);
      expect(wrongKey.output()).toContain('pass --key');
      const noWorkers = cli(['tools', '--root', 'nobody-here', '--key', MASTER_KEY]);
      expect(await noWorkers.exited).toBe(1);
      expect(noWorkers.output()).toContain('no worker answers on subject root "nobody-here"');
      const noNats = cli(['tools'], { NATS_URL: 'nats://127.0.0.1:1' });
      expect(await noNats.exited).toBe(1);
      expect(noNats.output()).toContain('cannot reach NATS');
      const badArgs = cli(['call', 'web-echo', '--args', '[1]', ...bus]);
      expect(await badArgs.exited).toBe(2);
      expect(badArgs.output()).toContain('--args must be a JSON object');
    } finally {
      await gateway.close();
      await http.close();
    }
  });
});
