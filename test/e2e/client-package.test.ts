import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { NATS_URL, REPO_ROOT } from '../harness/paths.js';

let http: FixtureHttpHandle;
let gateway: TestGateway;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({ servers: { web: { url: http.url } } });
});

afterAll(async () => {
  await gateway?.close();
  await http?.close();
});

// Asynchronous: the gateway under test runs in this process and must keep answering.
const run = async (command: string, args: string[], cwd: string): Promise<string> => (await promisify(execFile)(command, args, { cwd, encoding: 'utf8', timeout: 240_000 })).stdout;

describe('@mcpbus/client as published', () => {
  it('builds, packs, installs with npm into a plain project and calls a tool from plain Node (no tsx)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpbus-client-pkg-'));
    for (const pkg of ['protocol', 'client']) {
      const at = resolve(REPO_ROOT, 'packages', pkg);
      await run('pnpm', ['run', 'build'], at);
      await run('pnpm', ['pack', '--pack-destination', dir], at);
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', './mcpbus-protocol-0.1.0.tgz', './mcpbus-client-0.1.0.tgz'], dir);
    writeFileSync(
      join(dir, 'call.js'),
      `import { connect } from '@mcpbus/client';
const bus = await connect({ servers: ${JSON.stringify(NATS_URL)}, apiKey: ${JSON.stringify(MASTER_KEY)}, subjectRoot: ${JSON.stringify(gateway.config.settings.subjectRoot)} });
const result = await bus.callTool('web-echo', { text: 'from the published package' });
console.log(JSON.stringify(result));
await bus.close();
`,
    );
    const output = await run(process.execPath, ['call.js'], dir);
    expect(JSON.parse(output.trim())).toEqual({ content: [{ type: 'text', text: 'from the published package' }] });
  }, 300_000);
});
