import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** The downstream clients every relay test runs with. */
export const CLIENT_KINDS = ['v2-legacy', 'v2-modern', 'v1'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

export interface ToolCallOutcome {
  content?: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
}

/** The subset of client behaviour the tests use, the same for SDK v2 and 1.x clients. */
export interface TestClient {
  readonly kind: ClientKind;
  listTools(): Promise<{ tools: { name: string; inputSchema: unknown }[]; _meta?: Record<string, unknown> }>;
  callTool(name: string, args: Record<string, unknown>, options?: { onprogress?: (p: { progress: number; total?: number; message?: string }) => void; signal?: AbortSignal; timeout?: number }): Promise<ToolCallOutcome>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A fetch that sends consecutive requests to the hosts of the given URLs in turn (two ingress
 * replicas), keeping each request's own path and query.
 */
export function alternatingFetch(urls: readonly string[], seen: string[] = []): typeof fetch {
  let next = 0;
  return (input, init) => {
    const target = new URL(urls[next % urls.length] as string);
    next += 1;
    const original = new URL(input instanceof Request ? input.url : String(input));
    const rewritten = new URL(`${original.pathname}${original.search}`, target.origin);
    seen.push(rewritten.toString());
    return fetch(rewritten, init);
  };
}

export async function connectClient(kind: ClientKind, url: string, headers: Record<string, string>, options: { fetch?: typeof fetch } = {}): Promise<TestClient> {
  const info = { name: `mcpbus-test-${kind}`, version: '1.0.0' };
  if (kind === 'v1') {
    const client = new V1Client(info);
    await client.connect(new V1Transport(new URL(url), { requestInit: { headers }, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) }));
    return {
      kind,
      listTools: () => client.listTools(),
      callTool: (name, args, opts = {}) => client.callTool({ name, arguments: args }, undefined, opts),
      ping: async () => {
        await client.ping();
      },
      close: () => client.close(),
    };
  }
  const client = new Client(info, kind === 'v2-modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) }));
  const era = client.getProtocolEra();
  if ((kind === 'v2-modern') !== (era === 'modern')) throw new Error(`client ${kind} negotiated the ${era ?? 'unknown'} era`);
  return {
    kind,
    listTools: () => client.listTools(),
    // request() rather than callTool(): the relay is tested as is, without client-side output checks.
    callTool: (name, args, opts = {}) => client.request({ method: 'tools/call', params: { name, arguments: args } }, opts) as never,
    ping: async () => {
      if (era === 'modern') await client.request({ method: 'tools/list', params: {} });
      else await client.ping();
    },
    close: () => client.close(),
  };
}

/** A fetch that adds `Authorization: Bearer <key>` to every request (SSE GET and POSTs alike). */
export function withKey(key: string, inner: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('Authorization', `Bearer ${key}`);
    return inner(input, { ...init, headers });
  };
}

export function textOf(result: ToolCallOutcome): string {
  return (result.content ?? []).map((c) => c.text ?? '').join('');
}
