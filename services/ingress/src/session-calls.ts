import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOGGING_LEVELS, type InputRequestEvent } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { Caller } from './caller.js';
import { logMessageParams } from './call-logs.js';
import { toolCallOf } from './fast-path.js';
import { isJsonObject } from './json-object.js';
import { rpcErrorBodyOf, type CallRelay } from './relay-call.js';
import type { RequestCancels } from './request-cancels.js';
import type { ResumableStreams } from './resumable-streams.js';
import type { Scope } from './scope.js';
import { SSE_HEADERS, sseEvent } from './sse.js';

/**
 * The JSON-RPC id mcpbus gives an upstream's request for input when it sends it to a 2025-era
 * client: it names the call and the request, so the client's answer, POSTed to any replica, is
 * routed to the worker holding the upstream call.
 */
const INPUT_ID_PREFIX = 'mcpbus-input.';

export function inputRequestId(callId: string, key: string): string {
  return `${INPUT_ID_PREFIX}${callId}.${Buffer.from(key).toString('base64url')}`;
}

/** A client's answer to one of those requests. */
export interface ClientAnswer {
  callId: string;
  key: string;
  answer: { result: Record<string, unknown> } | { error: { code: number; message: string } };
}

/** The answers in a POSTed body (a JSON-RPC response, or a batch of them) to mcpbus's requests for input; undefined when it holds anything else. */
export function clientAnswersOf(body: unknown): ClientAnswer[] | undefined {
  const messages = Array.isArray(body) ? body : [body];
  const answers: ClientAnswer[] = [];
  for (const message of messages) {
    if (!isJsonObject(message) || 'method' in message || typeof message['id'] !== 'string' || !message['id'].startsWith(INPUT_ID_PREFIX)) return undefined;
    const [callId, encodedKey] = message['id'].slice(INPUT_ID_PREFIX.length).split('.');
    if (callId === undefined || encodedKey === undefined || !/^[A-Za-z0-9_-]{1,64}$/.test(callId)) return undefined;
    const key = Buffer.from(encodedKey, 'base64url').toString('utf8');
    const error = message['error'];
    if (isJsonObject(message['result'])) answers.push({ callId, key, answer: { result: message['result'] } });
    else if (isJsonObject(error)) answers.push({ callId, key, answer: { error: { code: typeof error['code'] === 'number' ? error['code'] : -32603, message: (typeof error['message'] === 'string' ? error['message'] : 'error').slice(0, 4096) } } });
    else return undefined;
  }
  return answers.length === 0 ? undefined : answers;
}

export interface InteractiveCallDeps {
  relay: CallRelay;
  streams: ResumableStreams;
  cancels: RequestCancels;
  log: Logger;
}

/**
 * A `tools/call` of a 2025-era session whose client can answer an upstream's requests for input
 * (or asked for log messages), served here as a resumable stream: progress, the upstream's log
 * messages and requests (`elicitation/create`, `sampling/createMessage`, `roots/list`, with ids
 * that route the answers), then the result.
 * The client POSTs each answer as a new request, to any replica. Its connection ending does not
 * end the call: it may resume the stream with Last-Event-ID on any replica (the upstream pausing
 * its own stream pauses this one), and its `notifications/cancelled` cancels the call. Returns
 * false, having done nothing, for anything but a plain call (a task-augmented one goes to the SDK).
 */
export function tryInteractiveCall(req: IncomingMessage, res: ServerResponse, body: unknown, caller: Caller, session: { id: string; capabilities: Record<string, unknown>; logLevel?: string }, deps: InteractiveCallDeps): boolean {
  const { capabilities } = session;
  const logLevel = LOGGING_LEVELS.find((l) => l === session.logLevel);
  const call = toolCallOf(body);
  if (call === undefined || call.params['task'] !== undefined || !(req.headers.accept ?? '').includes('text/event-stream')) return false;
  const { id, name, arguments: args } = call;
  const meta = isJsonObject(call.params['_meta']) ? call.params['_meta'] : undefined;
  const token = meta?.['progressToken'];
  const progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;

  const abort = new AbortController();
  const stream = deps.streams.open(res, caller, session.id);
  stream.onAbandoned(() => abort.abort());
  // A request its client cancelled gets no answer (MCP's cancellation rule); the stream just ends.
  let cancelled = false;
  const unwatch = deps.cancels.watch(caller, session.id, id, () => {
    cancelled = true;
    abort.abort();
  });
  const send = (message: Record<string, unknown>): void => stream.send({ jsonrpc: '2.0', ...message });
  const onInput = (event: InputRequestEvent): undefined => {
    send({ id: inputRequestId(event.callId, event.key), method: event.method, params: event.params ?? {} });
    return undefined;
  };
  deps.relay
    .call({
      name,
      arguments: args,
      caller,
      signal: abort.signal,
      meta,
      requestId: id,
      interaction: { mode: 'push', capabilities, ...(logLevel === undefined ? {} : { logLevel }) },
      onInput,
      onLog: (message) => send({ method: 'notifications/message', params: logMessageParams(message) }),
      onPause: () => stream.pause(),
      ...(progressToken === undefined
        ? {}
        : { progressToken, onProgress: (p: { progress: number; total?: number; message?: string }) => send({ method: 'notifications/progress', params: { ...p, progressToken } }) }),
    })
    .then(
      (result) => stream.finish({ jsonrpc: '2.0', id, result }),
      (err: unknown) => {
        if (cancelled) return stream.end();
        stream.finish({ jsonrpc: '2.0', id, error: rpcErrorBodyOf(err, deps.log) });
      },
    )
    .finally(unwatch);
  return true;
}

/** A 2025-era session's GET stream: notifications for the session's client, from any replica's events. */
interface SessionStream {
  res: ServerResponse;
  scope: Scope;
  owner: string;
}

/** One open session stream, to send its client notifications of its own. */
export interface OpenSessionStream {
  send(notification: Record<string, unknown>): void;
  onClose(listener: () => void): void;
}

export interface SessionStreams {
  /** Opens the session's notification stream on `res` (a GET with Mcp-Session-Id); undefined when this replica holds too many. */
  open(res: ServerResponse, sessionId: string, scope: Scope, owner: string): OpenSessionStream | undefined;
  /** Sends a notification to every open stream whose scope includes `server` (all of them when undefined). */
  notify(server: string | undefined, notification: Record<string, unknown>, filter?: (sessionId: string, owner: string) => boolean): void;
  size(): number;
  close(): void;
}

const HEARTBEAT_MS = 25_000;

export function createSessionStreams(maxStreams: number): SessionStreams {
  const streams = new Map<ServerResponse, SessionStream & { sessionId: string }>();
  const heartbeat = setInterval(() => {
    for (const { res } of streams.values()) res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    open(res, sessionId, scope, owner) {
      // A client that went away while its request was read never gets a stream.
      if (streams.size >= maxStreams || res.destroyed || res.closed) return undefined;
      res.writeHead(200, SSE_HEADERS);
      res.write(': mcpbus session stream\n\n');
      streams.set(res, { res, scope, owner, sessionId });
      res.on('close', () => streams.delete(res));
      return {
        send: (notification) => {
          if (!res.destroyed) res.write(sseEvent(JSON.stringify({ jsonrpc: '2.0', ...notification })));
        },
        onClose: (listener) => res.on('close', listener),
      };
    },
    notify(server, notification, filter) {
      for (const stream of streams.values()) {
        if (server !== undefined && stream.scope.servers !== undefined && !stream.scope.servers.includes(server)) continue;
        if (filter !== undefined && !filter(stream.sessionId, stream.owner)) continue;
        stream.res.write(sseEvent(JSON.stringify({ jsonrpc: '2.0', ...notification })));
      }
    },
    size: () => streams.size,
    close() {
      clearInterval(heartbeat);
      for (const { res } of streams.values()) res.end();
      streams.clear();
    },
  };
}
