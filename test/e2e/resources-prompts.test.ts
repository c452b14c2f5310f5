import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ResourceListChangedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { withKey } from '../harness/clients.js';
import { fixtureStdio, MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { FIXTURE_MAIN, REPO_ROOT } from '../harness/paths.js';

let web: FixtureHttpHandle;
let gateway: TestGateway;
let base: string;

const FX = { ...fixtureStdio(), args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio', '--tools-page-size', '2'], cwd: REPO_ROOT };

beforeAll(async () => {
  web = await startFixtureHttp({ port: 0, pageSize: 1 });
  gateway = await startGateway({ servers: { fx: FX, web: { url: web.url } }, settings: { list_page_size: 4 } });
  base = gateway.url.replace(/\/mcp$/, '');
});

afterAll(async () => {
  await gateway?.close();
  await web?.close();
});

async function connect(era: 'legacy' | 'modern', path = '/mcp'): Promise<Client> {
  const client = new Client({ name: 'rp-test', version: '1.0.0' }, era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}${path}`), { requestInit: { headers: gateway.headers } }));
  return client;
}

/** Every page of a list, walking the gateway's own cursors; also returns how many pages it took. */
async function allPages(client: Client, method: 'resources/list' | 'prompts/list', field: 'resources' | 'prompts'): Promise<{ items: Record<string, unknown>[]; pages: number }> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const result = (await client.request({ method, params: cursor === undefined ? {} : { cursor } })) as unknown as Record<string, unknown>;
    items.push(...(result[field] as Record<string, unknown>[]));
    cursor = result['nextCursor'] as string | undefined;
    pages += 1;
  } while (cursor !== undefined);
  return { items, pages };
}

describe.each(['legacy', 'modern'] as const)('resources and prompts through /mcp (%s era)', (era) => {
  it('aggregates resources from every upstream page, under namespaced URIs, in pages of its own', async () => {
    const client = await connect(era);
    try {
      const { items, pages } = await allPages(client, 'resources/list', 'resources');
      const uris = items.map((r) => r['uri']);
      expect(uris).toEqual(expect.arrayContaining(['mcpbus://fx/fixture://static/readme', 'mcpbus://web/fixture://static/logo', 'mcpbus://web/fixture://static/notes']));
      expect(uris).toHaveLength(6);
      expect(pages).toBe(2);
      await expect(client.request({ method: 'resources/list', params: { cursor: 'not-a-cursor' } })).rejects.toMatchObject({ code: -32602 });
    } finally {
      await client.close();
    }
  });

  it('reads resources and template-expanded URIs back from the right upstream', async () => {
    const client = await connect(era);
    try {
      const readme = await client.readResource({ uri: 'mcpbus://web/fixture://static/readme' });
      expect(readme.contents).toEqual([expect.objectContaining({ uri: 'mcpbus://web/fixture://static/readme', text: 'The fixture server, for mcpbus tests.' })]);
      const templates = (await client.request({ method: 'resources/templates/list', params: {} })) as unknown as { resourceTemplates: { uriTemplate: string }[] };
      expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toEqual(expect.arrayContaining(['mcpbus://fx/fixture://items/{id}']));
      const item = await client.readResource({ uri: 'mcpbus://fx/fixture://items/42' });
      expect(item.contents[0]).toMatchObject({ text: 'item 42', uri: 'mcpbus://fx/fixture://items/42' });
      await expect(client.readResource({ uri: 'mcpbus://nope/fixture://static/readme' })).rejects.toMatchObject({ code: -32602 });
      await expect(client.readResource({ uri: 'fixture://static/readme' })).rejects.toMatchObject({ code: -32602 });
    } finally {
      await client.close();
    }
  });

  it('lists and gets prompts under prefixed names, and completes their arguments', async () => {
    const client = await connect(era);
    try {
      const { items } = await allPages(client, 'prompts/list', 'prompts');
      expect(items.map((p) => p['name']).sort()).toEqual(['fx-greeting', 'fx-plain', 'web-greeting', 'web-plain']);
      const prompt = await client.getPrompt({ name: 'web-greeting', arguments: { name: 'Ada' } });
      expect(prompt.messages[0]?.content).toMatchObject({ type: 'text', text: 'Please greet Ada.' });
      await expect(client.getPrompt({ name: 'web-nope' })).rejects.toMatchObject({ code: -32602 });
      const names = await client.complete({ ref: { type: 'ref/prompt', name: 'fx-greeting' }, argument: { name: 'name', value: 'A' } });
      expect(names.completion.values).toEqual(['Ada', 'Alan']);
      const ids = await client.complete({ ref: { type: 'ref/resource', uri: 'mcpbus://web/fixture://items/{id}' }, argument: { name: 'id', value: '1' } });
      expect(ids.completion.values).toEqual(['1', '10']);
    } finally {
      await client.close();
    }
  });
});

describe('resource links in results', () => {
  it('name resources the client can read back through the gateway', async () => {
    const client = await connect('legacy');
    try {
      const result = (await client.request({ method: 'tools/call', params: { name: 'fx-link', arguments: {} } })) as unknown as { content: Record<string, unknown>[] };
      expect(result.content[0]).toMatchObject({ type: 'resource_link', uri: 'mcpbus://fx/fixture://static/readme' });
      expect(result.content[1]).toMatchObject({ type: 'resource', resource: { uri: 'mcpbus://fx/fixture://static/readme' } });
      const read = await client.readResource({ uri: result.content[0]?.['uri'] as string });
      expect(read.contents[0]).toMatchObject({ text: 'The fixture server, for mcpbus tests.' });
    } finally {
      await client.close();
    }
    const scoped = await connect('legacy', '/mcp/fx');
    try {
      const result = (await scoped.request({ method: 'tools/call', params: { name: 'link', arguments: {} } })) as unknown as { content: Record<string, unknown>[] };
      expect(result.content[0]).toMatchObject({ uri: 'fixture://static/readme' });
    } finally {
      await scoped.close();
    }
  });

  it('stay within x-mcp-servers', async () => {
    const client = new Client({ name: 'rp-scope', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { ...gateway.headers, 'x-mcp-servers': 'web' } } }));
    try {
      await expect(client.readResource({ uri: 'mcpbus://fx/fixture://static/readme' })).rejects.toMatchObject({ code: -32602 });
      await expect(client.getPrompt({ name: 'fx-plain' })).rejects.toMatchObject({ code: -32602 });
      expect((await client.getPrompt({ name: 'web-plain' })).messages).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});

describe('a single-server route', () => {
  it('shows the upstream resources and prompts under their own URIs and names', async () => {
    const client = await connect('legacy', '/mcp/web');
    try {
      const { items } = await allPages(client, 'resources/list', 'resources');
      expect(items.map((r) => r['uri']).sort()).toEqual(['fixture://static/logo', 'fixture://static/notes', 'fixture://static/readme']);
      expect((await client.readResource({ uri: 'fixture://static/notes' })).contents[0]).toMatchObject({ uri: 'fixture://static/notes', text: '# Notes' });
      expect((await client.getPrompt({ name: 'plain' })).messages[0]?.content).toMatchObject({ text: 'A plain prompt.' });
    } finally {
      await client.close();
    }
  });
});

describe('list changes', () => {
  it('reach 2026 clients listening on subscriptions/listen', async () => {
    const changed: string[] = [];
    const listener = new Client(
      { name: 'rp-listen', version: '1.0.0' },
      {
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        listChanged: {
          tools: { autoRefresh: false, onChanged: () => void changed.push('tools') },
          resources: { autoRefresh: false, onChanged: () => void changed.push('resources') },
        },
      },
    );
    await listener.connect(new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: gateway.headers } }));
    const caller = await connect('legacy');
    try {
      await caller.request({ method: 'tools/call', params: { name: 'fx-grow', arguments: { name: 'listened' } } });
      const until = Date.now() + 3_000;
      while (!(changed.includes('tools') && changed.includes('resources')) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(changed).toEqual(expect.arrayContaining(['tools', 'resources']));
    } finally {
      await caller.close();
      await listener.close();
    }
  });

  it('reach clients that hold a session (legacy SSE)', async () => {
    const single = await startGateway({
      servers: { fx: FX },
      settings: { list_page_size: 4 },
      inProcess: 'fx-grow changes the stdio child that ran it; with a child per worker process, the list that follows may come from another worker, whose child did not grow',
    });
    const client = new V1Client({ name: 'rp-sse', version: '1.0.0' });
    const seen: string[] = [];
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void seen.push('tools'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void seen.push('resources'));
    try {
      await client.connect(new SSEClientTransport(new URL(single.url.replace(/\/mcp$/, '/sse')), { fetch: withKey(MASTER_KEY) }));
      await client.callTool({ name: 'fx-grow', arguments: { name: 'fresh' } });
      const until = Date.now() + 3_000;
      while (!(seen.includes('tools') && seen.includes('resources')) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual(expect.arrayContaining(['tools', 'resources']));
      const uris: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listResources(cursor === undefined ? {} : { cursor });
        uris.push(...page.resources.map((r) => r.uri));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      expect(uris).toContain('mcpbus://fx/fixture://grown/fresh');
    } finally {
      await client.close();
      await single.close();
    }
  });
});
