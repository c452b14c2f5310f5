import { Agent, request, type ClientRequest } from 'node:http';

/** Where legacy SSE sessions are opened: the ingress's address and the headers every request carries. */
export interface SseTarget {
  host: string;
  port: number;
  headers: Record<string, string>;
}

/** One open 2024-11-05 HTTP+SSE session: `GET /sse` held open, requests POSTed to its endpoint. */
export interface SseSession {
  /** The endpoint path the server named in its first event (`/messages?sessionId=…`). */
  readonly endpoint: string;
  /** Sends a JSON-RPC request by POST and resolves with the response that arrives on the stream. */
  request(method: string, params: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Drops the stream's connection (the server ends the session when it sees the close). */
  close(): void;
}

interface Pending {
  resolve(message: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One SSE event block's `event:` and joined `data:` lines. */
function parseEvent(block: string): { event: string; data: string } {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  return { event, data: data.join('\n') };
}

function post(target: SseTarget, agent: Agent, path: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: target.host,
        port: target.port,
        path,
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...target.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`POST ${res.statusCode ?? 0}: ${Buffer.concat(chunks).toString().slice(0, 200)}`))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Opens a legacy SSE session on its own connection and resolves once the `endpoint` event
 * arrived, i.e. the server holds the session. POSTs go over `postAgent` (keep-alive, shared).
 */
export function openSseSession(target: SseTarget, postAgent: Agent, timeoutMs = 60_000): Promise<SseSession> {
  return new Promise((resolve, reject) => {
    const pending = new Map<number, Pending>();
    let nextId = 1;
    let endpoint: string | undefined;
    let closed = false;
    let req: ClientRequest | undefined = undefined;
    const fail = (err: Error): void => {
      closed = true;
      clearTimeout(openTimer);
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      pending.clear();
      if (endpoint === undefined) reject(err);
    };
    const openTimer = setTimeout(() => {
      fail(new Error(`no endpoint event within ${timeoutMs} ms`));
      req?.destroy();
    }, timeoutMs);
    const session: SseSession = {
      get endpoint() {
        return endpoint ?? '';
      },
      request(method, params, requestTimeoutMs = 30_000) {
        if (closed || endpoint === undefined) return Promise.reject(new Error('session closed'));
        const id = nextId++;
        const body = JSON.stringify({ jsonrpc: '2.0', id, method, params });
        return new Promise((resolveRequest, rejectRequest) => {
          const timer = setTimeout(() => {
            pending.delete(id);
            rejectRequest(new Error(`${method}: no response on the stream within ${requestTimeoutMs} ms`));
          }, requestTimeoutMs);
          pending.set(id, { resolve: resolveRequest, reject: rejectRequest, timer });
          post(target, postAgent, endpoint ?? '', body).catch((err: unknown) => {
            clearTimeout(timer);
            pending.delete(id);
            rejectRequest(err instanceof Error ? err : new Error(String(err)));
          });
        });
      },
      close() {
        closed = true;
        req?.destroy();
      },
    };
    const onEvent = (event: string, data: string): void => {
      if (event === 'endpoint') {
        endpoint = data;
        clearTimeout(openTimer);
        resolve(session);
        return;
      }
      if (event !== 'message') return;
      const message = JSON.parse(data) as Record<string, unknown>;
      const p = typeof message['id'] === 'number' ? pending.get(message['id']) : undefined;
      if (p === undefined) return;
      pending.delete(message['id'] as number);
      clearTimeout(p.timer);
      p.resolve(message);
    };
    // agent: false: a connection of its own, as every SSE client has.
    req = request({ agent: false, host: target.host, port: target.port, path: '/sse', headers: { Accept: 'text/event-stream', ...target.headers } }, (res) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => fail(new Error(`GET /sse ${res.statusCode ?? 0}: ${Buffer.concat(chunks).toString().slice(0, 200)}`)));
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk.replace(/\r\n/g, '\n');
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          // Comment-only blocks are the server's keepalives.
          if (block.split('\n').every((l) => l.startsWith(':') || l === '')) continue;
          const { event, data } = parseEvent(block);
          onEvent(event, data);
        }
      });
      res.on('close', () => fail(new Error('stream closed')));
      res.on('error', () => undefined);
    });
    req.on('error', (err) => fail(err));
    req.end();
  });
}

/** Runs `work` over `items` with at most `concurrency` at a time; per-item outcome and duration. */
export async function bounded<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<{ ok: R[]; okMs: number[]; failed: number; firstError: string | undefined }> {
  const ok: R[] = [];
  const okMs: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      const startedAt = performance.now();
      try {
        ok.push(await work(items[index] as T, index));
        okMs.push(performance.now() - startedAt);
      } catch (err: unknown) {
        failed += 1;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return { ok, okMs, failed, firstError };
}
