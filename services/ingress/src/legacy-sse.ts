import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/server';
import { SSEServerTransport } from '@modelcontextprotocol/server-legacy/sse';
import { apiKeyOf, apiKeyHeaders, busRequest, decodeBody, encodeJson, errorReply, type NatsConnection, type Subscription } from '@mcpbus/bus';
import { ownerOfKey, ErrorCode, McpbusError, isValidCallId, type SessionMessage, type Subjects } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { sendRpcError } from './http-replies.js';
import { isJsonObject } from './json-object.js';
import type { Credential, SessionCredential } from './caller.js';
import type { Scope } from './scope.js';
import type { ResourceSubscriptionSet } from './resource-updates.js';

/** Path of the endpoint a legacy session's first SSE event tells the client to POST to. */
export const LEGACY_MESSAGES_PATH = '/messages';
/** Proxies cut idle streams; a comment line this often keeps a quiet session open. */
const KEEPALIVE_MS = 15_000;
const FORWARD_TIMEOUT_MS = 10_000;

export interface LegacySse {
  /** `GET /sse` (or a plain SSE `GET /mcp`): opens a session on this response. */
  open(res: ServerResponse, scope: Scope, who: SessionCredential): Promise<void>;
  /**
   * `POST /messages?sessionId=…`: delivers one message into its session, here or, over NATS,
   * on the replica that holds the session's stream.
   */
  post(req: IncomingMessage, res: ServerResponse, body: unknown, who: Credential): Promise<void>;
  /** Sessions held by this replica. */
  sessions(): number;
  /** Tells the sessions that see `server` that one of its lists changed. */
  notifyListChanged(server: string, kind: 'tools' | 'resources' | 'prompts'): void;
  /** From now on, sessions here refuse new requests (notifications and responses still pass). */
  startDraining(): void;
  /** Ends every session this replica holds. */
  close(): Promise<void>;
}

interface Session {
  transport: SSEServerTransport;
  server: Server;
  subscriptions: ResourceSubscriptionSet | undefined;
  sub: Subscription;
  keepalive: NodeJS.Timeout;
  scope: Scope;
  keyHash: string;
}

const isRequest = (message: Record<string, unknown>): boolean => typeof message['method'] === 'string' && message['id'] !== undefined;
const sessionNotFound = (): McpbusError => new McpbusError(ErrorCode.NotFound, 'Session not found: open a new one with GET /sse');

/**
 * The 2024-11-05 HTTP+SSE transport for old clients. Each session is a long-lived MCP server on
 * this replica (so progress, cancellation and list changes work as on any sessionful server),
 * while its POSTs may land on any replica: they are forwarded over NATS to the one subscribed to
 * the session's subject. A session answers only POSTs made with the key that opened it.
 */
export function createLegacySse(deps: {
  nc: NatsConnection;
  subjects: Subjects;
  /** The session's MCP server; its resource subscriptions, when given, are the session's own. */
  buildServer: (scope: Scope, who: SessionCredential, subscriptions?: ResourceSubscriptionSet) => Server;
  /** A session's resource subscriptions, whose updates it sends as notifications/resources/updated. */
  subscriptionsFor?: (who: SessionCredential, deliver: (uri: string) => void) => ResourceSubscriptionSet;
  maxSessions: number;
  log: Logger;
}): LegacySse {
  const { nc, subjects, log } = deps;
  const local = new Map<string, Session>();
  let draining = false;

  function end(id: string): void {
    const session = local.get(id);
    if (session === undefined) return;
    local.delete(id);
    clearInterval(session.keepalive);
    session.sub.unsubscribe();
    void session.subscriptions?.close();
    void session.server.close().catch(() => undefined);
  }

  /** Hands a message to the session it is for; the error says why it could not. */
  async function deliver(id: string, message: Record<string, unknown>, keyHash: string): Promise<void> {
    const session = local.get(id);
    if (session === undefined || session.keyHash !== keyHash) throw sessionNotFound();
    if (draining && isRequest(message)) throw new McpbusError(ErrorCode.Overloaded, 'This session is closing because its ingress is shutting down; open a new one');
    try {
      await session.transport.handleMessage(message);
    } catch (err: unknown) {
      throw new McpbusError(ErrorCode.BadRequest, 'Invalid JSON-RPC message', { cause: err });
    }
  }

  return {
    async open(res, scope, who) {
      // The session belongs to the key that opened it: only POSTs with that key reach it.
      const keyHash = who.owner;
      if (local.size >= deps.maxSessions)
        return sendRpcError(res, new McpbusError(ErrorCode.Overloaded, `This ingress holds its maximum of ${deps.maxSessions} SSE sessions (mcpbus_settings.max_sse_sessions); retry, or use /mcp`));
      const transport = new SSEServerTransport(LEGACY_MESSAGES_PATH, res);
      const id = transport.sessionId;
      const subscriptions = deps.subscriptionsFor?.(who, (uri) => void server.sendResourceUpdated({ uri }).catch(() => undefined));
      const server = deps.buildServer(scope, who, subscriptions);
      const sub = nc.subscribe(subjects.sessionMessages(id), {
        callback: (err, msg) => {
          if (err !== null) return;
          let body: SessionMessage;
          try {
            body = decodeBody<SessionMessage>(msg.data, 'SessionMessage');
          } catch (failure: unknown) {
            msg.respond(encodeJson(errorReply(failure)));
            return;
          }
          // Whose message this is comes from the key it carries, never from the body.
          deliver(id, body.message, ownerOfKey(apiKeyOf(msg))).then(
            () => msg.respond(encodeJson({ ok: true, result: {} })),
            (failure: unknown) => msg.respond(encodeJson(errorReply(failure))),
          );
        },
      });
      const keepalive = setInterval(() => {
        if (!res.writableEnded) res.write(': keepalive\n\n');
      }, KEEPALIVE_MS);
      keepalive.unref();
      local.set(id, { transport, server, subscriptions, sub, keepalive, scope, keyHash });
      res.on('close', () => end(id));
      // The subscription must be known to NATS before the client learns the session id.
      await nc.flush();
      // connect() starts the transport: headers, then the `endpoint` event.
      await server.connect(transport);
    },

    async post(req, res, body, who) {
      const keyHash = who.owner;
      const id = new URL(req.url ?? '/', 'http://ingress').searchParams.get('sessionId') ?? '';
      if (!isValidCallId(id)) return sendRpcError(res, new McpbusError(ErrorCode.BadRequest, 'Missing or malformed sessionId query parameter'));
      if (!isJsonObject(body) || body['jsonrpc'] !== '2.0') return sendRpcError(res, new McpbusError(ErrorCode.BadRequest, 'The body must be one JSON-RPC 2.0 message'));
      const message = body;
      try {
        if (local.has(id)) await deliver(id, message, keyHash);
        else {
          const forwarded: SessionMessage = { v: 1, message };
          const headers = apiKeyHeaders(who.key);
          await busRequest(nc, subjects.sessionMessages(id), forwarded, { timeoutMs: FORWARD_TIMEOUT_MS, what: 'a legacy SSE session message', ...(headers === undefined ? {} : { headers }) });
        }
      } catch (err: unknown) {
        if (!(err instanceof McpbusError)) return sendRpcError(res, new McpbusError(ErrorCode.Internal, 'Internal error'));
        // No replica holds the session: it is gone (or never was).
        if (err.code === ErrorCode.NoWorkers) return sendRpcError(res, sessionNotFound());
        if (err.code === ErrorCode.Internal) log.warn({ err: err.message }, 'forwarding a legacy SSE message failed');
        return sendRpcError(res, err.code === ErrorCode.Internal ? new McpbusError(ErrorCode.Overloaded, 'The session could not be reached; retry') : err);
      }
      res.writeHead(202).end('Accepted');
    },

    sessions: () => local.size,

    notifyListChanged(server, kind) {
      for (const session of local.values()) {
        if (session.scope.servers !== undefined && !session.scope.servers.includes(server)) continue;
        const s = session.server;
        const sent = kind === 'tools' ? s.sendToolListChanged() : kind === 'resources' ? s.sendResourceListChanged() : s.sendPromptListChanged();
        void Promise.resolve(sent).catch(() => undefined);
      }
    },

    startDraining() {
      draining = true;
    },

    async close() {
      const open = [...local.values()];
      for (const id of [...local.keys()]) end(id);
      await Promise.allSettled(open.map((s) => s.transport.close()));
    },
  };
}
