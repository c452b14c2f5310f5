/** Raw JSON-RPC over Streamable HTTP, for tests that look at the wire (SSE order, task shapes). */

export const LEGACY_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25' };

/** The JSON messages of an SSE (or plain JSON) response body, in order. */
export function messagesOf(contentType: string | null, text: string): Record<string, unknown>[] {
  if (!(contentType ?? '').includes('text/event-stream')) return [JSON.parse(text) as Record<string, unknown>];
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice('data: '.length)) as Record<string, unknown>);
}

let nextId = 1;

/** POSTs one 2025-era request and returns every message of the response, in order. */
export async function legacyRpc(url: string, headers: Record<string, string>, method: string, params: Record<string, unknown>, init: { signal?: AbortSignal } = {}): Promise<Record<string, unknown>[]> {
  const id = nextId++;
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...headers, ...LEGACY_HEADERS },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  return messagesOf(res.headers.get('content-type'), await res.text());
}

/** The final response (result or error) among the messages. */
export function responseOf(messages: Record<string, unknown>[]): { result?: Record<string, unknown>; error?: { code: number; message: string } } {
  const last = messages.filter((m) => 'result' in m || 'error' in m).at(-1);
  if (last === undefined) throw new Error(`no response among ${JSON.stringify(messages)}`);
  return last;
}

export function progressOf(messages: Record<string, unknown>[]): { progress: number; total?: number; progressToken: unknown }[] {
  return messages.filter((m) => m['method'] === 'notifications/progress').map((m) => m['params'] as never);
}

interface ModernOptions {
  name?: string;
  tasks?: boolean;
  capabilities?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** POSTs one 2026-07-28 request (headers and `_meta` envelope; `tasks` declares the Tasks extension). */
function postModern(url: string, headers: Record<string, string>, method: string, params: Record<string, unknown>, options: ModernOptions): Promise<Response> {
  const id = nextId++;
  const capabilities = { ...(options.capabilities ?? {}), ...(options.tasks === true ? { extensions: { 'io.modelcontextprotocol/tasks': {} } } : {}) };
  const meta = {
    ...((params['_meta'] as Record<string, unknown> | undefined) ?? {}),
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'raw-test', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': capabilities,
  };
  return fetch(url, {
    method: 'POST',
    headers: {
      ...headers,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': method,
      ...(options.name === undefined ? {} : { 'Mcp-Name': options.name }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}

/** One 2026-07-28 request; every message of its response, in order. */
export async function modernRpc(url: string, headers: Record<string, string>, method: string, params: Record<string, unknown>, options: ModernOptions = {}): Promise<Record<string, unknown>[]> {
  const res = await postModern(url, headers, method, params, options);
  return messagesOf(res.headers.get('content-type'), await res.text());
}

/**
 * One 2026-07-28 request whose SSE response is read as it arrives: each message goes to
 * `onMessage` (which may abort `options.signal`, closing the stream as a client that cancels
 * does). Resolves when the stream ends, or is closed.
 */
export async function modernRpcStream(url: string, headers: Record<string, string>, method: string, params: Record<string, unknown>, options: ModernOptions & { onMessage(message: Record<string, unknown>): void }): Promise<void> {
  const res = await postModern(url, headers, method, params, options);
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const message of messagesOf(res.headers.get('content-type'), await res.text())) options.onMessage(message);
    return;
  }
  if (res.body === null) return;
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        if (line.startsWith('data: ')) options.onMessage(JSON.parse(line.slice('data: '.length)) as Record<string, unknown>);
      }
    }
  } catch (err: unknown) {
    if (options.signal?.aborted !== true) throw err;
  }
}
