import { readFileSync } from 'node:fs';
import { Client, SSEClientTransport, StreamableHTTPClientTransport, type Transport } from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { Agent, fetch as undiciFetch } from 'undici';
import { McpbusClientError } from './errors.js';
import type { CallToolResult, McpTool, Progress, ToolSession } from './types.js';

/** LiteLLM's auth types for MCP servers. */
export type AuthType = 'bearer_token' | 'basic' | 'api_key' | 'authorization';

export interface MCPClientOptions {
  /** `http` (Streamable HTTP), `sse` (2024-11-05 HTTP+SSE) or `stdio`. Default `http`. */
  transport?: 'http' | 'sse' | 'stdio';
  /** For `http` and `sse`: the endpoint, e.g. `http://127.0.0.1:4000/mcp` or `…/sse`. */
  url?: string;
  /** For `stdio`. */
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** `bearer_token` → `Authorization: Bearer v`; `basic` → `user:pass` base64-encoded for you; `api_key` → `X-API-Key: v`; `authorization` → `Authorization: v`. */
  authType?: AuthType;
  authValue?: string;
  /** More headers, sent on every request (e.g. `x-mcp-servers`, `x-mcp-{server}-{header}`). */
  headers?: Record<string, string>;
  /** Deadline of each request. Default 60 s. */
  timeoutMs?: number;
  /** HTTPS: a CA bundle (PEM file path or contents) to trust, or `verify: false` (a warning is printed). */
  tls?: { ca?: string; verify?: boolean };
  clientInfo?: { name: string; version: string };
}

function authHeaders(type: AuthType | undefined, value: string | undefined): Record<string, string> {
  if (type === undefined || value === undefined) return {};
  if (type === 'bearer_token') return { Authorization: `Bearer ${value}` };
  if (type === 'basic') return { Authorization: `Basic ${value.includes(':') ? Buffer.from(value).toString('base64') : value}` };
  if (type === 'api_key') return { 'X-API-Key': value };
  return { Authorization: value };
}

function tlsFetch(tls: NonNullable<MCPClientOptions['tls']>): typeof fetch {
  if (tls.verify === false) process.emitWarning('mcpbus client: TLS certificate verification is off; only use this against a server you trust', 'SecurityWarning');
  const ca = tls.ca === undefined ? undefined : tls.ca.includes('-----BEGIN') ? tls.ca : readFileSync(tls.ca, 'utf8');
  const dispatcher = new Agent({ connect: { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: tls.verify !== false } });
  const viaAgent = (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<unknown> => undiciFetch(input as never, { ...(init ?? {}), dispatcher } as never);
  return viaAgent as unknown as typeof fetch;
}

/**
 * An MCP client for mcpbus (or any MCP server), the counterpart of LiteLLM's Python helpers:
 * connect, list and call tools (with progress), prompts and resources.
 */
export class MCPClient implements ToolSession {
  private readonly options: MCPClientOptions;
  private client: Client | undefined;
  /** The connection being made: concurrent first calls share it. */
  private connecting: Promise<void> | undefined;
  /** Progress by our own token, read straight off the transport (the SDK's `onprogress` can lose the last update, typescript-sdk#2580). */
  private readonly progressRoutes = new Map<string, (p: Progress) => void>();
  private nextToken = 0;

  constructor(options: MCPClientOptions) {
    this.options = options;
  }

  private transport(): Transport {
    const o = this.options;
    if ((o.transport ?? 'http') === 'stdio') {
      if (o.command === undefined) throw new McpbusClientError('bad_request', 'transport "stdio" needs a command');
      return new StdioClientTransport({ command: o.command, args: o.args ?? [], env: { ...getDefaultEnvironment(), ...o.env }, ...(o.cwd === undefined ? {} : { cwd: o.cwd }) });
    }
    if (o.url === undefined) throw new McpbusClientError('bad_request', `transport "${o.transport ?? 'http'}" needs a url`);
    const headers = { ...authHeaders(o.authType, o.authValue), ...o.headers };
    const fetchOption = o.tls === undefined ? {} : { fetch: tlsFetch(o.tls) };
    const url = new URL(o.url);
    return o.transport === 'sse' ? new SSEClientTransport(url, { requestInit: { headers }, ...fetchOption }) : new StreamableHTTPClientTransport(url, { requestInit: { headers }, ...fetchOption });
  }

  /** Connects (once); every other method connects on first use. */
  async connect(): Promise<void> {
    if (this.client !== undefined) return;
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<void> {
    const client = new Client(this.options.clientInfo ?? { name: 'mcpbus-client', version: '0.1.0' });
    try {
      await client.connect(this.transport());
    } catch (err: unknown) {
      const status = (err as { status?: unknown }).status;
      throw new McpbusClientError(status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : 'transport', `cannot connect to ${this.options.url ?? this.options.command ?? 'the server'}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.routeProgress(client);
    this.client = client;
  }

  private routeProgress(client: Client): void {
    const transport = client.transport;
    const inner = transport?.onmessage;
    if (transport === undefined || inner === undefined) return;
    transport.onmessage = (message, extra) => {
      if ('method' in message && message.method === 'notifications/progress' && message.params !== undefined) {
        const params = message.params as Record<string, unknown>;
        const route = typeof params['progressToken'] === 'string' ? this.progressRoutes.get(params['progressToken']) : undefined;
        if (route !== undefined && typeof params['progress'] === 'number') {
          route({
            progress: params['progress'],
            ...(typeof params['total'] === 'number' ? { total: params['total'] } : {}),
            ...(typeof params['message'] === 'string' ? { message: params['message'] } : {}),
          });
          return;
        }
      }
      inner.call(transport, message, extra);
    };
  }

  private async session(): Promise<Client> {
    await this.connect();
    return this.client as Client;
  }

  private async run<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.session();
    try {
      return await work(client);
    } catch (err: unknown) {
      if (err instanceof McpbusClientError) throw err;
      const { code, status } = err as { code?: unknown; status?: unknown };
      const message = err instanceof Error ? err.message : String(err);
      // An HTTP refusal (the SDK reports its status) is named for what it is.
      if (typeof status === 'number') throw new McpbusClientError(status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : 'transport', message, { cause: err });
      if (typeof code === 'number' && code < 0) throw new McpbusClientError('rpc_error', message, { jsonRpcCode: code, cause: err });
      throw new McpbusClientError('transport', message, { cause: err });
    }
  }

  private get timeout(): { timeout: number } {
    return { timeout: this.options.timeoutMs ?? 60_000 };
  }

  async listTools(): Promise<McpTool[]> {
    return this.run(async (c) => (await c.listTools(undefined, this.timeout)).tools as McpTool[]);
  }

  async callTool(name: string, args: Record<string, unknown>, options: { onProgress?: (p: Progress) => void; signal?: AbortSignal } = {}): Promise<CallToolResult> {
    const { onProgress } = options;
    const token = onProgress === undefined ? undefined : `mcpbus-client-${(this.nextToken += 1)}`;
    if (token !== undefined && onProgress !== undefined) this.progressRoutes.set(token, onProgress);
    const params: Record<string, unknown> = { name, arguments: args };
    if (token !== undefined) params['_meta'] = { progressToken: token };
    try {
      return await this.run(async (c) => (await c.request({ method: 'tools/call', params } as never, { ...this.timeout, ...(options.signal === undefined ? {} : { signal: options.signal }) })) as CallToolResult);
    } finally {
      if (token !== undefined) this.progressRoutes.delete(token);
    }
  }

  async listPrompts(): Promise<Record<string, unknown>[]> {
    return this.run(async (c) => (await c.listPrompts(undefined, this.timeout)).prompts as Record<string, unknown>[]);
  }

  async getPrompt(name: string, args: Record<string, string> = {}): Promise<Record<string, unknown>> {
    return this.run(async (c) => (await c.getPrompt({ name, arguments: args }, this.timeout)) as Record<string, unknown>);
  }

  async listResources(): Promise<Record<string, unknown>[]> {
    return this.run(async (c) => (await c.listResources(undefined, this.timeout)).resources as Record<string, unknown>[]);
  }

  async listResourceTemplates(): Promise<Record<string, unknown>[]> {
    return this.run(async (c) => (await c.listResourceTemplates(undefined, this.timeout)).resourceTemplates as Record<string, unknown>[]);
  }

  async readResource(uri: string): Promise<Record<string, unknown>> {
    return this.run(async (c) => (await c.readResource({ uri }, this.timeout)) as Record<string, unknown>);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  /** Connects, runs `fn` with the session, and always closes it (LiteLLM's `with session:`). */
  static async runWithSession<T>(options: MCPClientOptions, fn: (session: MCPClient) => Promise<T>): Promise<T> {
    const session = new MCPClient(options);
    try {
      await session.connect();
      return await fn(session);
    } finally {
      await session.close();
    }
  }
}
