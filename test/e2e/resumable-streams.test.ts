import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, type FixtureHttpHandle } from '@mcpbus/fixture-server';
import { startReferenceServer, type ReferenceServerHandle } from '../../scripts/conformance/reference-server.js';
import { textOf } from '../harness/clients.js';
import { MASTER_KEY, startGateway, type TestGateway } from '../harness/gateway.js';
import { LEGACY_HEADERS, legacyRpc, responseOf } from '../harness/raw-mcp.js';
import { eventually } from '../harness/wait.js';

// Resumable call streams (SEP-1699) for 2025-era sessions: a call streamed to a session's client
// outlives the client's connection; the client resumes it with Last-Event-ID on any replica.
// `fx` is the fixture over Streamable HTTP (its `slow` tool reports progress); `ref` is the
// conformance reference server, whose `test_reconnection` closes its stream mid-call.

let http: FixtureHttpHandle;
let reference: ReferenceServerHandle;
let gateway: TestGateway;
const WINDOW_MS = 2_000;

beforeAll(async () => {
  http = await startFixtureHttp({ port: 0 });
  reference = await startReferenceServer();
  gateway = await startGateway({
    servers: { fx: { url: http.url }, ref: { url: reference.url } },
    ingresses: 2,
    settings: { stream_resume_window_ms: WINDOW_MS },
  });
});

afterAll(async () => {
  await gateway?.close();
  await reference?.close();
  await http?.close();
});

interface SseEvent {
  id?: string;
  retry?: number;
  data: string;
}

/** Reads SSE events off a response body as they come. */
async function* eventsOf(res: Response): AsyncGenerator<SseEvent> {
  const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value;
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event: SseEvent = { data: '' };
      let fields = 0;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const [field = '', ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        fields += 1;
        if (field === 'id') event.id = value;
        else if (field === 'retry') event.retry = Number(value);
        else if (field === 'data') event.data += value;
      }
      if (fields > 0) yield event;
    }
  }
}

const messageOf = (event: SseEvent): Record<string, unknown> => JSON.parse(event.data) as Record<string, unknown>;
const seqOf = (event: SseEvent): number => Number(event.id?.split('.').at(-1));

/** Opens a 2025-11-25 session on `url` whose client can answer elicitations (so its calls are streamed). */
async function openSession(url: string, headers: Record<string, string> = gateway.headers): Promise<string> {
  const init = await fetch(url, {
    method: 'POST',
    headers: { ...headers, ...LEGACY_HEADERS },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {} }, clientInfo: { name: 'resume-test', version: '1' } } }),
  });
  const sessionId = init.headers.get('mcp-session-id');
  await init.text();
  expect(sessionId).toBeTruthy();
  const initialized = await fetch(url, { method: 'POST', headers: { ...headers, ...LEGACY_HEADERS, 'Mcp-Session-Id': sessionId as string }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.text();
  return sessionId as string;
}

function postCall(url: string, sessionId: string, id: number, name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...gateway.headers, ...LEGACY_HEADERS, 'Mcp-Session-Id': sessionId },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: { progressToken: `p${id}` } } }),
    ...(signal === undefined ? {} : { signal }),
  });
}

function resume(url: string, sessionId: string, lastEventId: string, headers: Record<string, string> = gateway.headers): Promise<Response> {
  return fetch(url, { headers: { ...headers, Accept: 'text/event-stream', 'MCP-Protocol-Version': '2025-11-25', 'Mcp-Session-Id': sessionId, 'Last-Event-ID': lastEventId } });
}

async function slowStats(): Promise<{ started: number; finished: number; cancelled: number }> {
  const { result } = responseOf(await legacyRpc(gateway.urls[0] as string, gateway.headers, 'tools/call', { name: 'fx-slow_stats', arguments: {} }));
  return JSON.parse(textOf(result as never)) as { started: number; finished: number; cancelled: number };
}

/** Starts a slow call on replica 0, reads its priming event and first progress event, then drops the connection. */
async function callAndDrop(sessionId: string, id: number, args: Record<string, unknown>): Promise<{ priming: SseEvent; seen: SseEvent[] }> {
  const drop = new AbortController();
  const res = await postCall(gateway.urls[0] as string, sessionId, id, 'fx-slow', args, drop.signal);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events = eventsOf(res);
  const priming = (await events.next()).value as SseEvent;
  const seen: SseEvent[] = [];
  for await (const event of events) {
    seen.push(event);
    if (messageOf(event)['method'] === 'notifications/progress') break;
  }
  drop.abort();
  return { priming, seen };
}

describe('a 2025 session\'s call stream', () => {
  it('opens with a priming event (an id, no data) and a retry, and numbers every event', async () => {
    const sessionId = await openSession(gateway.urls[0] as string);
    const res = await postCall(gateway.urls[0] as string, sessionId, 1, 'fx-slow', { steps: 2, delayMs: 10 });
    const events: SseEvent[] = [];
    for await (const event of eventsOf(res)) events.push(event);
    const [priming, ...rest] = events as [SseEvent, ...SseEvent[]];
    expect(priming.data).toBe('');
    expect(priming.retry).toBeGreaterThan(0);
    expect(seqOf(priming)).toBe(0);
    expect(rest.map(seqOf)).toEqual(rest.map((_e, i) => i + 1));
    expect(responseOf(rest.map(messageOf)).result).toBeDefined();
  });

  it('survives its client\'s connection: resumed on the other replica, it sends the missed events and the answer, once', async () => {
    const before = await slowStats();
    const sessionId = await openSession(gateway.urls[0] as string);
    const { seen } = await callAndDrop(sessionId, 2, { steps: 6, delayMs: 150 });
    const last = seen.at(-1) as SseEvent;
    // Events go on while nobody listens.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const res = await resume(gateway.urls[1] as string, sessionId, last.id as string);
    expect(res.status).toBe(200);
    const resumed: SseEvent[] = [];
    for await (const event of eventsOf(res)) resumed.push(event);
    const seqs = resumed.map(seqOf);
    expect(seqs[0]).toBe(seqOf(last) + 1);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const progress = resumed.map(messageOf).filter((m) => m['method'] === 'notifications/progress').map((m) => (m['params'] as { progress: number }).progress);
    expect(progress).toEqual([2, 3, 4, 5, 6]);
    const answer = responseOf(resumed.map(messageOf));
    expect(textOf(answer.result as never)).toBe('done after 6 steps');
    // The tool ran once, to the end: the dropped connection cancelled nothing.
    const after = await slowStats();
    expect(after.started - before.started).toBe(1);
    expect(after.finished - before.finished).toBe(1);
  });

  it('resumes again and again, on either replica: every id names the replica holding the call', async () => {
    const sessionId = await openSession(gateway.urls[0] as string);
    const { priming, seen } = await callAndDrop(sessionId, 7, { steps: 8, delayMs: 120 });
    const holder = (priming.id as string).split('.')[0];
    let last = seen.at(-1) as SseEvent;
    const progress: number[] = [];
    let answer: Record<string, unknown> | undefined;
    // Resume on replica 1, read one event, drop; then on replica 0, then 1 again, until the answer.
    for (let hop = 0; answer === undefined && hop < 20; hop += 1) {
      const drop = new AbortController();
      const res = await fetch(gateway.urls[(hop + 1) % 2] as string, { headers: { ...gateway.headers, Accept: 'text/event-stream', 'MCP-Protocol-Version': '2025-11-25', 'Mcp-Session-Id': sessionId, 'Last-Event-ID': last.id as string }, signal: drop.signal });
      expect(res.status, `hop ${hop}`).toBe(200);
      const next = (await eventsOf(res).next()).value as SseEvent;
      drop.abort();
      expect(next.id?.split('.')[0]).toBe(holder);
      expect(seqOf(next)).toBe(seqOf(last) + 1);
      last = next;
      const message = messageOf(next);
      if (message['method'] === 'notifications/progress') progress.push((message['params'] as { progress: number }).progress);
      if ('result' in message) answer = message;
    }
    expect(progress).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(textOf(answer?.['result'] as never)).toBe('done after 8 steps');
    // Its answer was the last event: there is nothing more to resume.
    const after = await resume(gateway.urls[1] as string, sessionId, last.id as string);
    expect(after.status).toBe(410);
    expect(((await after.json()) as { error: { message: string } }).error.message).toMatch(/nothing more to send/);
  });

  it('cancels the call of a client that does not come back within stream_resume_window_ms, and then refuses the resume (410)', async () => {
    const before = await slowStats();
    const sessionId = await openSession(gateway.urls[0] as string);
    const { priming } = await callAndDrop(sessionId, 3, { steps: 100, delayMs: 100 });
    await eventually(async () => expect((await slowStats()).cancelled - before.cancelled).toBe(1), { timeoutMs: WINDOW_MS + 8_000 });
    const res = await resume(gateway.urls[1] as string, sessionId, priming.id as string);
    expect(res.status).toBe(410);
    const body = (await res.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32015);
    expect(body.error.message).toMatch(/cannot be resumed/);
  });

  it('ends without an answer when its client cancels the request (notifications/cancelled, on any replica)', async () => {
    const before = await slowStats();
    const sessionId = await openSession(gateway.urls[0] as string);
    const res = await postCall(gateway.urls[0] as string, sessionId, 4, 'fx-slow', { steps: 100, delayMs: 100 });
    const messages: Record<string, unknown>[] = [];
    let cancelled = false;
    for await (const event of eventsOf(res)) {
      if (event.data === '') continue;
      messages.push(messageOf(event));
      if (!cancelled && messageOf(event)['method'] === 'notifications/progress') {
        cancelled = true;
        const cancel = await fetch(gateway.urls[1] as string, {
          method: 'POST',
          headers: { ...gateway.headers, ...LEGACY_HEADERS, 'Mcp-Session-Id': sessionId },
          body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4, reason: 'changed my mind' } }),
        });
        expect(cancel.status).toBe(202);
      }
    }
    expect(messages.filter((m) => 'result' in m || 'error' in m)).toEqual([]);
    await eventually(async () => expect((await slowStats()).cancelled - before.cancelled).toBe(1), { timeoutMs: 5_000 });
  });

  it('is resumed only within its own session and key', async () => {
    const sessionId = await openSession(gateway.urls[0] as string);
    const other = await openSession(gateway.urls[0] as string);
    const { seen } = await callAndDrop(sessionId, 5, { steps: 20, delayMs: 100 });
    const lastId = (seen.at(-1) as SseEvent).id as string;
    // Another session of the same key: the stream is not its own.
    const foreign = await resume(gateway.urls[1] as string, other, lastId);
    expect(foreign.status).toBe(410);
    await foreign.text();
    // Another key cannot even use the session.
    const made = await fetch(new URL('/key/generate', gateway.urls[0]), { method: 'POST', headers: { Authorization: `Bearer ${MASTER_KEY}`, 'Content-Type': 'application/json' }, body: '{}' });
    const { key } = (await made.json()) as { key: string };
    const stolen = await resume(gateway.urls[1] as string, sessionId, lastId, { Authorization: `Bearer ${key}` });
    expect(stolen.status).toBe(404);
    await stolen.text();
    // Its own client still can, and gets the answer.
    const own = await resume(gateway.urls[1] as string, sessionId, lastId);
    expect(own.status).toBe(200);
    const resumed: SseEvent[] = [];
    for await (const event of eventsOf(own)) resumed.push(event);
    expect(textOf(responseOf(resumed.map(messageOf)).result as never)).toBe('done after 20 steps');
  });

  it('opens the session\'s own GET stream for a Last-Event-ID that is not one of mcpbus\'s', async () => {
    const sessionId = await openSession(gateway.urls[0] as string);
    const abort = new AbortController();
    const res = await fetch(gateway.urls[1] as string, { headers: { ...gateway.headers, Accept: 'text/event-stream', 'MCP-Protocol-Version': '2025-11-25', 'Mcp-Session-Id': sessionId, 'Last-Event-ID': 'something-else' }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    abort.abort();
  });
});

describe('an upstream that closes its stream mid-call (SEP-1699 polling)', () => {
  it('closes the client\'s stream too, before the answer, and the client resumes it on the other replica', async () => {
    const sessionId = await openSession(gateway.urls[0] as string);
    const res = await postCall(gateway.urls[0] as string, sessionId, 6, 'ref-test_reconnection', {});
    const posted: SseEvent[] = [];
    for await (const event of eventsOf(res)) posted.push(event);
    expect(posted.filter((e) => e.data !== '').map(messageOf).filter((m) => 'result' in m || 'error' in m)).toEqual([]);
    const resumed = await resume(gateway.urls[1] as string, sessionId, (posted.at(-1) as SseEvent).id as string);
    const events: SseEvent[] = [];
    for await (const event of eventsOf(resumed)) events.push(event);
    expect(textOf(responseOf(events.map(messageOf)).result as never)).toBe('Reconnection test completed');
  });

  it('is invisible to an SDK client, which resumes by itself', async () => {
    const client = new Client({ name: 'sdk-resume', version: '1.0.0' }, { capabilities: { elicitation: {} }, versionNegotiation: { mode: 'legacy' } });
    client.setRequestHandler('elicitation/create', () => Promise.resolve({ action: 'decline' }));
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.urls[0] as string), { requestInit: { headers: gateway.headers } }));
    try {
      const result = await client.callTool({ name: 'ref-test_reconnection', arguments: {} });
      expect(textOf(result as never)).toBe('Reconnection test completed');
    } finally {
      await client.close();
    }
  });
});
