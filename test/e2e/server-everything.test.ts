import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, textOf, type TestClient } from '../harness/clients.js';
import { startGateway, type TestGateway } from '../harness/gateway.js';
import { EVERYTHING_BIN, REPO_ROOT } from '../harness/paths.js';

let gateway: TestGateway;
let client: TestClient;

beforeAll(async () => {
  gateway = await startGateway({
    servers: { everything: { transport: 'stdio', command: EVERYTHING_BIN, args: ['stdio'], cwd: REPO_ROOT } },
    settings: { list_deadline_ms: 15_000 },
  });
  client = await connectClient('v2-modern', gateway.url, gateway.headers);
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
});

describe('@modelcontextprotocol/server-everything behind mcpbus', () => {
  it('lists its tools under the server prefix', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['everything-echo', 'everything-get-sum', 'everything-trigger-long-running-operation']));
  });

  it('calls its tools, with progress from its long-running operation', async () => {
    expect(textOf(await client.callTool('everything-echo', { message: 'hello' }))).toContain('hello');
    expect(textOf(await client.callTool('everything-get-sum', { a: 3, b: 4 }))).toContain('7');
    const progress: number[] = [];
    const result = await client.callTool('everything-trigger-long-running-operation', { duration: 1, steps: 4 }, { onprogress: (p) => progress.push(p.progress) });
    expect(textOf(result)).toMatch(/completed/i);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  });

  it('validates arguments against its schemas before calling it', async () => {
    const result = await client.callTool('everything-get-sum', { a: 'three' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('a: must be number');
    expect(textOf(result)).toContain('b: is required');
  });
});
