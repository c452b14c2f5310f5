import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connectClient, textOf } from '../harness/clients.js';
import { deleteSubmitStream, fixtureStdio } from '../harness/gateway.js';
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
