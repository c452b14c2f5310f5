import { MultiServerMCPClient } from '@langchain/mcp-adapters';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureStdio, MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway({ servers: { fx: fixtureStdio() } });
});

afterAll(async () => {
  await gateway?.close();
});

// @langchain/mcp-adapters is the JavaScript twin of the adapter LiteLLM's docs use.
describe.each([
  ['Streamable HTTP on /mcp', 'http', '/mcp'],
  ['legacy SSE on /sse', 'sse', '/sse'],
] as const)('@langchain/mcp-adapters over %s', (_label, transport, path) => {
  it('loads the tools and calls one', async () => {
    const url = gateway.url.replace(/\/mcp$/, path);
    const client = new MultiServerMCPClient({
      mcpServers: { mcpbus: { transport, url, headers: { Authorization: `Bearer ${MASTER_KEY}` }, automaticSSEFallback: false } },
      throwOnLoadError: true,
    });
    try {
      const tools = await client.getTools();
      const echo = tools.find((t) => t.name.endsWith('fx-echo'));
      expect(echo, `tools: ${tools.map((t) => t.name).join(', ')}`).toBeDefined();
      const add = tools.find((t) => t.name.endsWith('fx-add'));
      const output: unknown = await add?.invoke({ a: 40, b: 2 });
      expect(JSON.stringify(output)).toContain('42');
      expect(JSON.stringify(await echo?.invoke({ text: `via ${transport}` }))).toContain(`via ${transport}`);
    } finally {
      await client.close();
    }
  });
});
