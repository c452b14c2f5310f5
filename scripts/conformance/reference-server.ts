// A reference server for the conformance suite's server scenarios, written for mcpbus from the
// scenarios' published requirements (the suite's own reference server lives only in its
// repository's examples and is not published on npm). Built on the SDK mcpbus uses: 2026-07-28
// requests go to `createMcpHandler`, 2025-era requests get real `Mcp-Session-Id` sessions (so
// server-to-client requests, logging, the GET stream and resumable SSE work for them).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import {
  createMcpHandler,
  isInitializeRequest,
  isLegacyRequest,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  Server,
  type CallToolResult,
  type EventStore,
  type InputRequiredResult,
  type JSONRPCMessage,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { localhostHostValidation, localhostOriginValidation, NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import {
  ELICIT_CONTACT_SCHEMA,
  ELICIT_DEFAULTS_SCHEMA,
  ELICIT_ENUMS_SCHEMA,
  getPrompt,
  PROMPTS,
  readResource,
  RESOURCE_TEMPLATES,
  RESOURCES,
  STATIC_RESULTS,
  text,
  TOOLS,
} from './reference-content.js';
import { callMrtrTool, callStatelessTool, getMrtrPrompt, MRTR_PROMPT, MRTR_TOOLS, STATE_CODEC, STATELESS_TOOLS } from './reference-modern.js';

export interface ReferenceServerHandle {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  /** Tells every 2025-era session subscribed to `uri` that it changed (`notifications/resources/updated`). */
  touch(uri: string): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

const STEP_MS = 50;

async function runWithLogging(ctx: ServerContext): Promise<CallToolResult> {
  await ctx.mcpReq.log('info', 'Tool execution started');
  await delay(STEP_MS);
  await ctx.mcpReq.log('info', 'Tool processing data');
  await delay(STEP_MS);
  await ctx.mcpReq.log('info', 'Tool execution completed');
  return text('Tool with logging executed successfully');
}

async function runWithProgress(ctx: ServerContext): Promise<CallToolResult> {
  const progressToken = ctx.mcpReq._meta?.progressToken;
  for (const progress of [0, 50, 100]) {
    if (progress > 0) await delay(STEP_MS);
    if (progressToken !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress, total: 100 } });
  }
  return text('Tool with progress executed successfully');
}

async function runSampling(args: Record<string, unknown>, ctx: ServerContext): Promise<CallToolResult> {
  const prompt = typeof args['prompt'] === 'string' ? args['prompt'] : '';
  const answer = await ctx.mcpReq.requestSampling({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 });
  const content = Array.isArray(answer.content) ? answer.content[0] : answer.content;
  return text(`LLM response: ${content?.type === 'text' ? content.text : JSON.stringify(content)}`);
}

async function runElicitation(message: string, requestedSchema: object, prefix: string, ctx: ServerContext): Promise<CallToolResult> {
  const answer = await ctx.mcpReq.elicitInput({ message, requestedSchema: requestedSchema as never });
  return text(`${prefix}: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
}

// Closes the call's SSE stream first (the client resumes it with Last-Event-ID), then answers
// on the resumed stream.
async function runReconnection(ctx: ServerContext): Promise<CallToolResult> {
  await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', data: 'about to close the stream' } }).catch(() => undefined);
  ctx.http?.closeSSE?.();
  await delay(200);
  return text('Reconnection test completed');
}

async function callTool(name: string, args: Record<string, unknown>, ctx: ServerContext): Promise<CallToolResult | InputRequiredResult> {
  const fixed = STATIC_RESULTS[name];
  if (fixed !== undefined) return fixed;
  const modern = (await callMrtrTool(name, ctx)) ?? (await callStatelessTool(name, args, ctx));
  if (modern !== undefined) return modern;
  switch (name) {
    case 'test_tool_with_logging':
      return runWithLogging(ctx);
    case 'test_tool_with_progress':
      return runWithProgress(ctx);
    case 'test_sampling':
      return runSampling(args, ctx);
    case 'test_elicitation':
      return runElicitation(typeof args['message'] === 'string' ? args['message'] : '', ELICIT_CONTACT_SCHEMA, 'User response', ctx);
    case 'test_elicitation_sep1034_defaults':
      return runElicitation('Please confirm or change these values', ELICIT_DEFAULTS_SCHEMA, 'Elicitation completed', ctx);
    case 'test_elicitation_sep1330_enums':
      return runElicitation('Please pick from each list', ELICIT_ENUMS_SCHEMA, 'Elicitation completed', ctx);
    case 'test_reconnection':
      return runReconnection(ctx);
    case 'json_schema_2020_12_tool':
      return text(`received ${JSON.stringify(args)}`);
    default:
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
  }
}

/** A 2025-era session's server and the resources it subscribed to. */
interface SessionSubscriptions {
  server: Server;
  uris: Set<string>;
}

/**
 * One server instance: per request for the 2026 era, per session for the 2025 era.
 * `subscribe: false` leaves resource subscriptions out of its capabilities (a stateless 2026 side
 * that cannot keep them); `sessions` collects the 2025-era sessions' subscriptions.
 */
function createReferenceServer(options: { subscribe?: boolean; sessions?: Set<SessionSubscriptions> } = {}): Server {
  const server = new Server(
    { name: 'mcpbus-conformance-reference', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: options.subscribe ?? true, listChanged: true },
        prompts: { listChanged: true },
        completions: {},
        logging: {},
      },
      requestState: { verify: (state, ctx) => STATE_CODEC.verify(state, ctx) },
    },
  );
  const subscriptions = new Set<string>();
  options.sessions?.add({ server, uris: subscriptions });
  server.setRequestHandler('tools/list', () => ({ tools: [...TOOLS, ...MRTR_TOOLS, ...STATELESS_TOOLS] }));
  server.setRequestHandler('tools/call', async (req, ctx) => {
    try {
      return await callTool(req.params.name, req.params.arguments ?? {}, ctx);
    } catch (err: unknown) {
      if (err instanceof ProtocolError) throw err;
      return { isError: true, content: [{ type: 'text', text: err instanceof Error ? err.message : String(err) }] };
    }
  });
  server.setRequestHandler('resources/list', () => ({ resources: [...RESOURCES] }));
  server.setRequestHandler('resources/templates/list', () => ({ resourceTemplates: RESOURCE_TEMPLATES.map(t => ({ ...t })) }));
  server.setRequestHandler('resources/read', req => {
    const contents = readResource(req.params.uri);
    if (contents === undefined) throw new ResourceNotFoundError(req.params.uri);
    return { contents: [contents] };
  });
  server.setRequestHandler('resources/subscribe', req => {
    subscriptions.add(req.params.uri);
    return {};
  });
  server.setRequestHandler('resources/unsubscribe', req => {
    subscriptions.delete(req.params.uri);
    return {};
  });
  server.setRequestHandler('prompts/list', () => ({ prompts: [...PROMPTS, MRTR_PROMPT] }));
  server.setRequestHandler('prompts/get', (req, ctx) => {
    if (req.params.name === MRTR_PROMPT.name) return getMrtrPrompt(ctx);
    const prompt = getPrompt(req.params.name, req.params.arguments ?? {});
    if (prompt === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
    return prompt;
  });
  server.setRequestHandler('completion/complete', req => {
    const typed = req.params.argument.value.toLowerCase();
    const values = ['paris', 'park', 'party', 'hello', 'world'].filter(v => v.startsWith(typed));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}

/** Keeps every SSE event so a client that lost a stream can resume it (SEP-1699 polling). */
function createEventStore(): EventStore {
  const events: { id: string; streamId: string; message: JSONRPCMessage }[] = [];
  let seq = 0;
  return {
    storeEvent(streamId, message) {
      seq += 1;
      const id = `${streamId}_${String(seq).padStart(8, '0')}`;
      events.push({ id, streamId, message });
      return Promise.resolve(id);
    },
    getStreamIdForEventId(eventId) {
      return Promise.resolve(events.find(e => e.id === eventId)?.streamId);
    },
    async replayEventsAfter(lastEventId, { send }) {
      const last = events.find(e => e.id === lastEventId);
      if (last === undefined) throw new Error(`unknown event id ${lastEventId}`);
      for (const event of events) if (event.streamId === last.streamId && event.id > lastEventId) await send(event.id, event.message);
      return last.streamId;
    },
  };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function rpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

/**
 * Starts the reference server on 127.0.0.1 (port 0 picks a free one). `modernSubscriptions: false`
 * makes its 2026-07-28 side offer no resource subscriptions while its 2025-era sessions do, as a
 * server with a stateless 2026 side (the suite's own reference server among them).
 */
export async function startReferenceServer(options: { port?: number; modernSubscriptions?: boolean } = {}): Promise<ReferenceServerHandle> {
  const modernHandler = createMcpHandler(() => createReferenceServer({ subscribe: options.modernSubscriptions ?? true }), { legacy: 'reject', onerror: () => {} });
  const legacySessions = new Set<SessionSubscriptions>();
  const modern = toNodeHandler(modernHandler);
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();
  const hostOk = localhostHostValidation();
  const originOk = localhostOriginValidation();

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (new URL(req.url ?? '/', 'http://reference').pathname !== '/mcp') return void res.writeHead(404).end();
    if (!hostOk(req, res) || !originOk(req, res)) return;
    const sessionId = req.headers['mcp-session-id'];
    const session = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (req.method !== 'POST') {
      if (session !== undefined) return session.handleRequest(req, res);
      if (typeof sessionId === 'string') return rpcError(res, 404, -32001, 'Session not found');
      return void res.writeHead(405, { allow: 'POST' }).end();
    }
    const body = await readBody(req);
    if (!(await isLegacyRequest(await toWebRequest(req, body), body))) return modern(req, res, body);
    if (session !== undefined) return session.handleRequest(req, res, body);
    if (typeof sessionId === 'string') return rpcError(res, 404, -32001, 'Session not found');
    if (!isInitializeRequest(body)) return rpcError(res, 400, -32000, 'Bad Request: no session; send initialize first');
    const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: createEventStore(),
      retryInterval: 100,
      onsessioninitialized: id => void sessions.set(id, transport),
      onsessionclosed: id => void sessions.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    const server = createReferenceServer({ sessions: legacySessions });
    const previous = transport.onclose;
    transport.onclose = () => {
      previous?.();
      for (const entry of legacySessions) if (entry.server === server) legacySessions.delete(entry);
    };
    await server.connect(transport);
    return transport.handleRequest(req, res, body);
  }

  const httpServer = createServer((req, res) => {
    route(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = httpServer.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.allSettled([...sessions.values()].map(t => t.close()));
      await modernHandler.close().catch(() => undefined);
      await new Promise<void>(resolve => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    })());
  const touch = async (uri: string): Promise<void> => {
    await Promise.allSettled([...legacySessions].filter(entry => entry.uris.has(uri)).map(entry => entry.server.notification({ method: 'notifications/resources/updated', params: { uri } })));
  };
  return { url: `http://127.0.0.1:${port}/mcp`, touch, close };
}
