import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MCPClient,
  McpbusClientError,
  callAnthropicTool,
  callMcpTool,
  callOpenAITool,
  connect,
  loadMcpTools,
  toolResultText,
  type AnthropicToolUse,
  type BusClient,
  type OpenAIToolCall,
  type Progress,
} from '@mcpbus/client';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { FIXTURE_MAIN, NATS_URL, REPO_ROOT } from '../harness/paths.js';

let http: FixtureHttpHandle;
let gateway: TestGateway;
let bus: BusClient;
let model: Server;
let modelUrl: string;
/** What the scripted model received, per API. */
const seen: { openai: Record<string, unknown>[]; anthropic: Record<string, unknown>[] } = { openai: [], anthropic: [] };

/**
 * A stand-in for an LLM API: the first request gets a canned tool call (web-add 2 + 3), a request
 * that carries the tool's result gets a final answer quoting it. No real model, no key.
 */
function scriptedModel(): Server {
  return createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as { messages: { role: string; content: unknown }[] };
      const reply = (value: unknown): void => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.url === '/v1/chat/completions') {
        seen.openai.push(body);
        const toolMessage = body.messages.find((m) => m.role === 'tool');
        if (toolMessage === undefined) {
          const call: OpenAIToolCall = { id: 'call_1', type: 'function', function: { name: 'web-add', arguments: '{"a":2,"b":3}' } };
          return reply({ choices: [{ message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }] });
        }
        return reply({ choices: [{ message: { role: 'assistant', content: `The answer is ${String(toolMessage.content)}` }, finish_reason: 'stop' }] });
      }
      seen.anthropic.push(body);
      const result = body.messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as { type: string; content?: string }[]) : [])).find((b) => b.type === 'tool_result');
      if (result === undefined) return reply({ content: [{ type: 'tool_use', id: 'tu_1', name: 'web-add', input: { a: 2, b: 3 } }], stop_reason: 'tool_use' });
      return reply({ content: [{ type: 'text', text: `The answer is ${result.content ?? ''}` }], stop_reason: 'end_turn' });
    });
  });
}

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${modelUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  gateway = await startGateway({ servers: { web: { url: http.url }, jobs: { url: http.url, execution: 'job' } }, runners: 1 });
  bus = await connect({ servers: NATS_URL, apiKey: MASTER_KEY, subjectRoot: gateway.config.settings.subjectRoot });
  model = scriptedModel();
  await new Promise<void>((resolve) => model.listen(0, '127.0.0.1', resolve));
  modelUrl = `http://127.0.0.1:${(model.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await bus?.close();
  await new Promise((resolve) => model?.close(resolve));
  await gateway?.close();
  await http?.close();
});

describe('@mcpbus/client on the bus', () => {
  it('lists and calls tools, with progress, inline and as jobs', async () => {
    expect((await bus.listTools()).map((t) => t.name)).toEqual(expect.arrayContaining(['web-echo', 'jobs-slow']));
    expect(await bus.callTool('web-echo', { text: 'via the bus' })).toEqual({ content: [{ type: 'text', text: 'via the bus' }] });
    for (const tool of ['web-slow', 'jobs-slow']) {
      const progress: number[] = [];
      const result = await bus.callTool(tool, { steps: 3, delayMs: 10 }, { onProgress: (p) => progress.push(p.progress) });
      expect(result.content).toEqual([{ type: 'text', text: 'done after 3 steps' }]);
      expect(progress).toEqual([1, 2, 3]);
    }
  });

  it('submits durably: progress as an async iterator, then the result', async () => {
    const handle = await bus.submit('web-slow', { steps: 3, delayMs: 50 });
    const progress: Progress[] = [];
    for await (const p of handle.progress) progress.push(p);
    expect((await handle.result()).content).toEqual([{ type: 'text', text: 'done after 3 steps' }]);
    expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
    expect((await bus.getTask(handle.callId)).task.status).toBe('completed');
  });

  it('cancels a running job, and calls tools in MCP terms', async () => {
    const handle = await bus.submit('web-slow', { steps: 100, delayMs: 50 });
    for await (const p of handle.progress) if (p.progress >= 2) break;
    await bus.cancel(handle.callId, 'enough');
    await expect(handle.result()).rejects.toMatchObject({ code: 'cancelled' });
    expect((await bus.getTask(handle.callId)).task.status).toBe('cancelled');
    expect(toolResultText(await callMcpTool(bus, { name: 'web-add', arguments: { a: 1, b: 2 } }))).toBe('3');
  });

  it('reports failures as typed errors', async () => {
    await expect(bus.callTool('web-nope', {})).rejects.toMatchObject({ name: 'McpbusClientError', code: 'unknown_tool' });
    const stranger = await connect({ servers: NATS_URL, apiKey: 'sk-wrong', subjectRoot: gateway.config.settings.subjectRoot });
    try {
      await expect(stranger.listTools()).rejects.toMatchObject({ code: 'unauthorized' });
    } finally {
      await stranger.close();
    }
    const nobody = await connect({ servers: NATS_URL, apiKey: MASTER_KEY, subjectRoot: 'nobody-listens-here' });
    try {
      await expect(nobody.listTools()).rejects.toMatchObject({ code: 'no_workers' });
    } finally {
      await nobody.close();
    }
    await expect(connect({ servers: 'nats://127.0.0.1:1' })).rejects.toBeInstanceOf(McpbusClientError);
  });
});

describe('@mcpbus/client over MCP', () => {
  it('speaks Streamable HTTP and legacy SSE to mcpbus, with progress, prompts and resources', async () => {
    for (const [transport, url] of [['http', gateway.url], ['sse', gateway.url.replace(/\/mcp$/, '/sse')]] as const) {
      await MCPClient.runWithSession({ transport, url, authType: 'bearer_token', authValue: MASTER_KEY }, async (session) => {
        expect((await session.listTools()).map((t) => t.name)).toContain('web-echo');
        const progress: number[] = [];
        const result = await session.callTool('web-slow', { steps: 2, delayMs: 10 }, { onProgress: (p) => progress.push(p.progress) });
        expect(result.content).toEqual([{ type: 'text', text: 'done after 2 steps' }]);
        expect(progress).toEqual([1, 2]);
        expect((await session.listPrompts()).map((p) => p['name'])).toContain('web-greeting');
        expect(JSON.stringify(await session.getPrompt('web-greeting', { name: 'Ada' }))).toContain('Ada');
        const resources = await session.listResources();
        expect(resources.length).toBeGreaterThan(0);
        expect(await session.readResource(String(resources[0]?.['uri']))).toHaveProperty('contents');
        expect(Array.isArray(await session.listResourceTemplates())).toBe(true);
      });
    }
    await expect(MCPClient.runWithSession({ url: gateway.url }, (s) => s.listTools())).rejects.toBeInstanceOf(McpbusClientError);
  });

  it('speaks stdio, and sends each auth type as LiteLLM does', async () => {
    const prompts = await MCPClient.runWithSession({ transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio'], cwd: REPO_ROOT }, (s) => s.listPrompts());
    expect(prompts.length).toBeGreaterThan(0);
    const seenBy = async (options: Partial<Parameters<typeof MCPClient.runWithSession>[0]>): Promise<Record<string, string>> =>
      MCPClient.runWithSession({ url: http.url, ...options }, async (s) => JSON.parse(toolResultText(await s.callTool('whoami', {}))) as Record<string, string>);
    expect((await seenBy({ authType: 'basic', authValue: 'user:pass' }))['authorization']).toBe(`Basic ${Buffer.from('user:pass').toString('base64')}`);
    expect((await seenBy({ authType: 'api_key', authValue: 'k-1' }))['x-api-key']).toBe('k-1');
    expect((await seenBy({ authType: 'authorization', authValue: 'Token t' }))['authorization']).toBe('Token t');
    expect((await seenBy({ headers: { 'x-tenant': 'acme' } }))['x-tenant']).toBe('acme');
  });
});

describe('@mcpbus/client over HTTPS', () => {
  it('trusts a given CA bundle, refuses an unknown certificate, and can skip verification', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpbus-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const upstream = new URL(http.url);
    // TLS in front of the HTTP fixture: terminate, then pass the bytes through.
    const proxy = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (socket) => {
      const backend = createConnection({ host: upstream.hostname, port: Number(upstream.port) });
      socket.pipe(backend).pipe(socket);
      socket.on('error', () => backend.destroy());
      backend.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `https://localhost:${(proxy.address() as AddressInfo).port}/mcp`;
    try {
      const names = (tls: { ca?: string; verify?: boolean } | undefined) => MCPClient.runWithSession({ url, ...(tls === undefined ? {} : { tls }) }, async (s) => (await s.listTools()).map((t) => t.name));
      expect(await names({ ca: join(dir, 'cert.pem') })).toContain('echo');
      await expect(names(undefined)).rejects.toMatchObject({ code: 'transport' });
      expect(await names({ verify: false })).toContain('echo');
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describe('LLM round trips with a scripted model', () => {
  it('OpenAI: tools in, a tool call out, its MCP result back, the final answer', async () => {
    await MCPClient.runWithSession({ url: gateway.url, authType: 'bearer_token', authValue: MASTER_KEY }, async (session) => {
      const tools = await loadMcpTools(session, { format: 'openai' });
      const messages: Record<string, unknown>[] = [{ role: 'user', content: 'What is 2 + 3?' }];
      const first = await post('/v1/chat/completions', { model: 'scripted', messages, tools });
      expect((seen.openai[0]?.['tools'] as { function: { name: string } }[]).map((t) => t.function.name)).toContain('web-add');
      const assistant = (first['choices'] as { message: { tool_calls: OpenAIToolCall[] } }[])[0]?.message;
      const call = assistant?.tool_calls[0] as OpenAIToolCall;
      const result = await callOpenAITool(session, call);
      messages.push(assistant as never, { role: 'tool', tool_call_id: call.id, content: toolResultText(result) });
      const final = await post('/v1/chat/completions', { model: 'scripted', messages, tools });
      expect((final['choices'] as { message: { content: string } }[])[0]?.message.content).toBe('The answer is 5');
    });
  });

  it('Anthropic: the same with tool_use and tool_result blocks, over the bus client', async () => {
    const tools = await loadMcpTools(bus, { format: 'anthropic' });
    expect(tools.find((t) => t.name === 'web-add')?.input_schema).toMatchObject({ type: 'object', properties: { a: {}, b: {} } });
    const messages: Record<string, unknown>[] = [{ role: 'user', content: 'What is 2 + 3?' }];
    const first = await post('/v1/messages', { model: 'scripted', messages, tools });
    const use = (first['content'] as AnthropicToolUse[])[0] as AnthropicToolUse;
    const result = await callAnthropicTool(bus, use);
    messages.push({ role: 'assistant', content: first['content'] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: toolResultText(result) }] });
    const final = await post('/v1/messages', { model: 'scripted', messages, tools });
    expect((final['content'] as { text: string }[])[0]?.text).toBe('The answer is 5');
  });
});
