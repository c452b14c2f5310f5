import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/server';
import { SSEServerTransport } from '@modelcontextprotocol/server-legacy/sse';
import { busRequest, decodeBody, encodeJson, errorReply, type NatsConnection, type Subscription } from '@mcpbus/bus';
import { ErrorCode, McpbusError, isValidCallId, messageOf, type SessionMessage, type Subjects } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { Scope } from './scope.js';

/** Path of the endpoint a legacy session's first SSE event tells the client to POST to. */
export const LEGACY_MESSAGES_PATH = '/messages';
/** Proxies cut idle streams; a comment line this often keeps a quiet session open. */
const KEEPALIVE_MS = 15_000;
const FORWARD_TIMEOUT_MS = 10_000;

export interface LegacySse {
  /** `GET /sse` (or a plain SSE `GET /mcp`): opens a session on this response. */
  open(res: ServerResponse, scope: Scope): Promise<void>;
  /**
   * `POST /messages?sessionId=…`: delivers one message into its session, here or, over NATS,
   * on the replica that holds the session's stream.
   */
  post(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
  /** Sessions held by this replica. */
  sessions(): number;
  /** Tells every session on this replica that a list changed (sessions can receive it; stateless requests cannot). */
  notifyListChanged(kind: 'tools' | 'resources' | 'prompts'): void;
  /** Ends every session this replica holds. */
  close(): Promise<void>;
}

interface Session {
  transport: SSEServerTransport;
  server: Server;
  sub: Subscription;
  keepalive: NodeJS.Timeout;
}

/**
 * The 2024-11-05 HTTP+SSE transport for old clients. Each session is a long-lived MCP server on
 * this replica (so progress, cancellation and the rest of the session work as on any sessionful
 * server), while its POSTs may land on any replica: they are forwarded over NATS to the one
 * subscribed to the session's subject.
 */
export function createLegacySse(deps: { nc: NatsConnection; subjects: Subjects; buildServer: (scope: Scope) => Server; log: Logger }): LegacySse {
  const { nc, subjects, log } = deps;
  const local = new Map<string, Session>();

  function end(id: string): void {
    const session = local.get(id);
    if (session === undefined) return;
    local.delete(id);
    clearInterval(session.keepalive);
    session.sub.unsubscribe();
    void session.server.close().catch(() => undefined);
  }

  async function deliver(session: Session, message: unknown): Promise<void> {
    await session.transport.handleMessage(message);
  }

  return {
    async open(res, scope) {
      const transport = new SSEServerTransport(LEGACY_MESSAGES_PATH, res);
      const id = transport.sessionId;
      const server = deps.buildServer(scope);
      const sub = nc.subscribe(subjects.sessionMessages(id), {
        callback: (err, msg) => {
          if (err !== null) return;
          const session = local.get(id);
          let body: SessionMessage;
          try {
            body = decodeBody<SessionMessage>(msg.data, 'SessionMessage');
          } catch (failure: unknown) {
            msg.respond(encodeJson(errorReply(failure)));
            return;
          }
          if (session === undefined) return;
          deliver(session, body.message).then(
            () => msg.respond(encodeJson({ ok: true, result: {} })),
            (failure: unknown) => msg.respond(encodeJson(errorReply(new McpbusError(ErrorCode.BadRequest, messageOf(failure))))),
          );
        },
      });
      const keepalive = setInterval(() => {
        if (!res.writableEnded) res.write(': keepalive\n\n');
      }, KEEPALIVE_MS);
      keepalive.unref();
      local.set(id, { transport, server, sub, keepalive });
      res.on('close', () => end(id));
      // connect() starts the transport: headers, then the `endpoint` event.
      await server.connect(transport);
      log.debug({ sessionId: id }, 'legacy SSE session opened');
    },

    async post(req, res, body) {
      const url = new URL(req.url ?? '/', 'http://ingress');
      const id = url.searchParams.get('sessionId') ?? '';
      const reject = (status: number, message: string): void => {
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
      };
      if (!isValidCallId(id)) return reject(400, 'Missing or malformed sessionId query parameter');
      if (body === null || typeof body !== 'object' || Array.isArray(body) || (body as Record<string, unknown>)['jsonrpc'] !== '2.0') return reject(400, 'The body must be one JSON-RPC 2.0 message');
      const session = local.get(id);
      try {
        if (session !== undefined) await deliver(session, body);
        else await busRequest(nc, subjects.sessionMessages(id), { v: 1, message: body }, { timeoutMs: FORWARD_TIMEOUT_MS, what: 'a legacy SSE session message' });
      } catch (err: unknown) {
        if (err instanceof McpbusError && err.code === ErrorCode.NoWorkers) return reject(404, 'Session not found: open a new one with GET /sse');
        return reject(400, messageOf(err));
      }
      res.writeHead(202).end('Accepted');
    },

    sessions: () => local.size,

    notifyListChanged(kind) {
      for (const { server } of local.values()) {
        const sent = kind === 'tools' ? server.sendToolListChanged() : kind === 'resources' ? server.sendResourceListChanged() : server.sendPromptListChanged();
        void Promise.resolve(sent).catch(() => undefined);
      }
    },

    async close() {
      const open = [...local.values()];
      for (const id of [...local.keys()]) end(id);
      await Promise.allSettled(open.map((s) => s.transport.close()));
    },
  };
}
