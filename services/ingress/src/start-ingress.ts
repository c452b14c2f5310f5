import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMcpHandler } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { decodeBody, trackConnection, type NatsConnection } from '@mcpbus/bus';
import type { McpbusConfig } from '@mcpbus/config';
import { FULL_ACCESS } from '@mcpbus/access';
import { ANONYMOUS_OWNER, ErrorCode, LOGGING_LEVELS, declaresInputCapability, McpbusError, createSubjects, type CatalogChanged, messageOf } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { ingressShed } from '@mcpbus/logging';
import { startKeyDirectory, startServerDirectory, type Principal } from '@mcpbus/access';
import { presentedKey } from './auth.js';
import { adminRouteOf, serveAdmin, type AdminDeps } from './admin/routes.js';
import { createBusCalls } from './bus-calls.js';
import { hostProblem, originProblem } from './http-guards.js';
import { tryFastCall } from './fast-path.js';
import { MODERN_REQUEST_METHODS, createGatewayServer } from './mcp-server.js';
import { sendJson, sendRestError, sendRpcError } from './http-replies.js';
import { readJsonBody } from './read-body.js';
import { LEGACY_MESSAGES_PATH, createLegacySse } from './legacy-sse.js';
import { createCallRelay, type CallRelay } from './relay-call.js';
import { restRouteOf, serveRest, type RestDeps } from './rest.js';
import { ALL_SERVERS, scopeOf, serverInPath, type Scope } from './scope.js';
import { callerOf, credentialOf, type Caller } from './caller.js';
import { callRouteOf, serveCall, type CallsHttpDeps } from './calls-http.js';
import { createRequestCancels } from './request-cancels.js';
import { clientCredentialHeaders } from './upstream-credentials.js';
import { isJsonObject } from './json-object.js';
import { clientAnswersOf, createSessionStreams, tryInteractiveCall } from './session-calls.js';
import { resourceOf } from './resource-owner.js';
import { createResumableStreams } from './resumable-streams.js';
import { createCoalescer } from './coalesce.js';
import { openStreamableSessions, type SessionRecord } from './streamable-sessions.js';
import { MAX_SUBSCRIPTIONS_PER_CLIENT, isListenRequest, startResourceUpdates, type ResourceSubscriptionSet } from './resource-updates.js';
import { observeRequest, serveMetrics } from './telemetry.js';

export interface StartIngressOptions {
  config: McpbusConfig;
  nc: NatsConnection;
  log: Logger;
  port: number;
  host?: string;
}

export interface IngressHandle {
  readonly port: number;
  readonly url: string;
  /** Stops accepting connections, lets running requests finish (up to the drain timeout). */
  close(): Promise<void>;
}

/** Paths answered whatever the load: health probes and metrics. */
const PROBE_PATHS: ReadonlySet<string> = new Set(['/health/liveliness', '/health/liveness', '/health/readiness', '/metrics']);

/** Room kept for the envelope around a request body on the bus. */
const ENVELOPE_BYTES = 16 * 1024;

/**
 * A body must fit in one NATS message: the effective limit is the smaller of
 * `max_body_bytes` and the server's max_payload (1 MiB unless raised), less the envelope.
 * Only a configured size beyond max_payload itself is worth a warning.
 */
function bodyLimit(configured: number, maxPayload: number | undefined, log: Logger): number {
  if (maxPayload === undefined || configured <= maxPayload - ENVELOPE_BYTES) return configured;
  const limit = Math.max(1, maxPayload - ENVELOPE_BYTES);
  if (configured > maxPayload) log.warn({ maxBodyBytes: configured, natsMaxPayload: maxPayload, effective: limit }, 'max_body_bytes exceeds what NATS carries; bodies are limited to the smaller size');
  return limit;
}

/** How long the replica answering a 2025 session's resources/subscribe holds its own lease, until the session's stream holder has taken the subscription up. */
const SESSION_BRIDGE_MS = 10_000;

/**
 * The ingress: a plain node:http server. It checks Host and Origin, authenticates, bounds the
 * body, and hands MCP traffic to a stateless SDK handler whose tools live behind NATS.
 */
export async function startIngress(options: StartIngressOptions): Promise<IngressHandle> {
  const { config, nc } = options;
  const log = options.log.child({ role: 'ingress' });
  const bus = createBusCalls(nc, config);
  const subjects = createSubjects(config.settings.subjectRoot);
  const servers = await startServerDirectory(nc, config, log);
  const keys = await startKeyDirectory(nc, config, log, (ref) => servers.resolveRef(ref));
  const cancels = createRequestCancels(nc, subjects, (who, taskId, reason) => bus.cancelTask(who, taskId, reason), log);
  const untracked = createCallRelay(config, servers, bus, cancels, log);
  // Calls on legacy SSE sessions outlive their 202-answered POSTs; drain waits for them too.
  let calls = 0;
  const tracked = <A extends unknown[], R>(work: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    calls += 1;
    try {
      return await work(...args);
    } finally {
      calls -= 1;
    }
  };
  const relay: CallRelay = { call: tracked(untracked.call), callOrTask: tracked(untracked.callOrTask) };
  // Resource subscriptions: leases on workers for this replica's clients, and the updates fanned out to them.
  const resourceUpdates = startResourceUpdates({ nc, subjects, servers, timeoutMsOf: (server) => servers.get(server)?.timeoutMs ?? config.settings.callTimeoutMs, log });
  // The SDK builds a server per request; the request's caller (and, for a 2025 session, where its
  // resource subscriptions are kept) reach its factory through this.
  const requestContext = new AsyncLocalStorage<{ caller: Caller; subscriptions?: ResourceSubscriptionSet }>();
  const callerOfRequest = { run: <T>(caller: Caller, work: () => T, subscriptions?: ResourceSubscriptionSet): T => requestContext.run(subscriptions === undefined ? { caller } : { caller, subscriptions }, work) };
  const anonymous: Caller = { scope: ALL_SERVERS, owner: ANONYMOUS_OWNER, access: FULL_ACCESS, modern: false, abortCancelsJob: false };
  const handler = createMcpHandler(() => {
    const context = requestContext.getStore();
    return createGatewayServer(config, servers, context?.caller ?? anonymous, bus, relay, log, context?.subscriptions === undefined ? {} : { subscriptions: context.subscriptions });
  }, {
    onerror: (err) => log.warn({ err: err.message }, 'mcp handler error'),
    bus: resourceUpdates.listenBus,
  });
  const mcp = toNodeHandler(handler, { maxRequestBodySize: config.settings.maxBodyBytes });
  const settings = config.settings;
  const maxBodyBytes = bodyLimit(settings.maxBodyBytes, nc.info?.max_payload, log);
  const readBody = (req: IncomingMessage): Promise<unknown> => readJsonBody(req, maxBodyBytes);
  const knownServers = { has: (name: string): boolean => servers.get(name) !== undefined };
  const rest: RestDeps = { bus, relay, knownServers, separator: settings.toolSeparator, readBody, log };
  const admin: AdminDeps = { keys, servers, config, readBody, log };
  const callsHttp: CallsHttpDeps = { bus, waitMs: settings.taskMaxTtlMs, log };
  const sessions = await openStreamableSessions(nc, subjects, log);
  const sessionStreams = createSessionStreams(settings.maxSseSessions);
  const callStreams = createResumableStreams(nc, subjects, settings.streamResumeWindowMs, log);
  const legacy = createLegacySse({
    nc,
    subjects,
    // Legacy SSE sessions belong to the key that opened them; their requests end early only by
    // an explicit notifications/cancelled (or the session closing), which cancels a job too.
    buildServer: (scope, who, subscriptions) => createGatewayServer(config, servers, { ...who, scope, modern: false, abortCancelsJob: true, pushesToClient: true }, bus, relay, log, { subscriptions }),
    subscriptionsFor: (who, deliver) => resourceUpdates.subscriptionsFor(who, deliver),
    maxSessions: settings.maxSseSessions,
    log,
  });
  // Every worker announces a change it sees (a server changed through the admin API is seen by
  // all of them): announcements of one list within 50 ms become one notification.
  const pendingChanges = createCoalescer(50);
  const notifySoon = (server: string, kind: CatalogChanged['kind']): void =>
    pendingChanges.soon(`${kind}\u0000${server}`, () => {
      legacy.notifyListChanged(server, kind);
      sessionStreams.notify(server, { method: `notifications/${kind}/list_changed` });
      if (kind === 'tools') handler.notify.toolsChanged();
      else if (kind === 'resources') handler.notify.resourcesChanged();
      else handler.notify.promptsChanged();
    });
  // Upstream list changes reach the clients that can receive them: legacy SSE sessions, and
  // 2026 clients listening on subscriptions/listen streams of this replica.
  const changes = nc.subscribe(subjects.catalogChanged(), {
    callback: (err, msg) => {
      if (err !== null) return;
      let changed: CatalogChanged;
      try {
        changed = decodeBody<CatalogChanged>(msg.data, 'CatalogChanged');
      } catch {
        return;
      }
      notifySoon(changed.server, changed.kind);
    },
  });
  // Requests being answered; legacy SSE streams leave this set once they are open.
  const active = new Set<ServerResponse>();
  let draining = false;
  const natsState = trackConnection(nc);

  /**
   * Host/Origin and API key checks shared by every route: the caller's principal (the master key,
   * a virtual key, or anyone when no master key is set), or undefined once it has answered.
   */
  async function admitted(req: IncomingMessage, res: ServerResponse, reply: (res: ServerResponse, err: McpbusError) => void): Promise<Principal | undefined> {
    const problem = hostProblem(req.headers, settings.allowedHosts) ?? originProblem(req.headers, settings.allowedOrigins, settings.allowedHosts);
    if (problem !== undefined) {
      reply(res, new McpbusError(ErrorCode.Forbidden, problem));
      return undefined;
    }
    // A key made a moment ago on another replica is looked up rather than refused.
    const principal = await keys.authenticateFresh(presentedKey(req.headers));
    if (principal instanceof McpbusError) {
      reply(res, principal);
      return undefined;
    }
    return principal;
  }

  async function serveMcp(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const principal = await admitted(req, res, sendRpcError);
    if (principal === undefined) return;
    const scope = scopeOf(pathname, req.headers, knownServers, principal.access);
    if (scope instanceof McpbusError) return sendRpcError(res, scope);
    // A legacy SSE client's GET carries no session id and no MCP-Protocol-Version; a Streamable
    // HTTP client's standalone GET stream carries the version header and stays with the SDK.
    const legacyGet = req.headers['mcp-session-id'] === undefined && req.headers['mcp-protocol-version'] === undefined;
    if (req.method === 'GET' && legacyGet && (req.headers.accept ?? '').includes('text/event-stream')) return openLegacySession(req, res, scope, principal);
    const caller = callerOf(req.headers, scope, principal.access);
    // A 2025-era client's session (Mcp-Session-Id): any replica finds it in NATS KV.
    let session: SessionRecord | undefined;
    if (!caller.modern && caller.sessionId !== undefined) {
      const found = await sessions.find(caller.sessionId, caller.owner);
      if ('missing' in found) return sendJson(res, 404, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found: it ended or expired; initialize a new session' } });
      if ('found' in found) session = found.found;
      if (req.method === 'DELETE') {
        if ('unknown' in found) return sendRpcError(res, new McpbusError(ErrorCode.NoWorkers, 'Sessions cannot be reached right now (NATS); try again shortly'));
        await sessions.remove(caller.sessionId, caller.owner);
        res.writeHead(200).end();
        return;
      }
      if (req.method === 'GET' && session !== undefined && (req.headers.accept ?? '').includes('text/event-stream')) {
        // A call stream's client reconnecting: the events it missed, from the replica holding the call.
        const lastEventId = req.headers['last-event-id'];
        if (typeof lastEventId === 'string' && draining) return sendRpcError(res, new McpbusError(ErrorCode.Overloaded, 'This ingress is shutting down; resume on another replica'));
        if (typeof lastEventId === 'string' && callStreams.resume(res, lastEventId, caller, caller.sessionId)) return;
        return openSessionStream(res, caller.sessionId, caller);
      }
    }
    if (req.method !== 'POST') return callerOfRequest.run(caller, () => mcp(req, res));
    let body: unknown;
    try {
      body = await readBody(req);
    } catch (err: unknown) {
      return sendRpcError(res, err instanceof McpbusError ? err : new McpbusError(ErrorCode.BadRequest, 'Cannot read the request body'));
    }
    // A 2025 session keeps its resource subscriptions with it (its GET stream gets the updates).
    let subscriptions: ResourceSubscriptionSet | undefined;
    if (!caller.modern) {
      // A new 2025-era session: its id goes out with the SDK's answer to initialize.
      let sessionId = caller.sessionId;
      if (sessionId === undefined && isJsonObject(body) && body['method'] === 'initialize' && isJsonObject(body['params'])) {
        sessionId = await sessions.create(caller.owner, body['params']);
        if (sessionId !== undefined) res.setHeader('Mcp-Session-Id', sessionId);
      }
      if (sessionId !== undefined && (session !== undefined || caller.sessionId === undefined)) subscriptions = sessionSubscriptions(sessionId, caller);
      // The client's answers to an upstream's requests for input go to the worker holding the call.
      const answers = clientAnswersOf(body);
      if (answers !== undefined) {
        for (const { callId, key, answer } of answers) bus.answerInput(caller, callId, key, answer);
        res.writeHead(202).end();
        return;
      }
      // A session's logging/setLevel is kept with the session, for its calls on any replica.
      if (session !== undefined && caller.sessionId !== undefined && isJsonObject(body) && body['method'] === 'logging/setLevel' && isJsonObject(body['params'])) {
        const level = body['params']['level'];
        if (typeof level !== 'string' || !(LOGGING_LEVELS as readonly string[]).includes(level)) return sendJson(res, 200, { jsonrpc: '2.0', id: body['id'] ?? null, error: { code: -32602, message: `logging/setLevel needs a level, one of ${LOGGING_LEVELS.join(', ')}` } });
        await sessions.setLogLevel(caller.sessionId, caller.owner, level);
        return sendJson(res, 200, { jsonrpc: '2.0', id: body['id'] ?? null, result: {} });
      }
      if (session !== undefined && caller.sessionId !== undefined && (declaresInputCapability(session.capabilities) || session.logLevel !== undefined) && tryInteractiveCall(req, res, body, caller, { ...session, id: caller.sessionId }, { relay, streams: callStreams, cancels, log })) return;
    }
    // A stateless 2025 client's cancel of a job call it waits for: whichever replica holds it acts.
    if (!caller.modern && isJsonObject(body) && body['method'] === 'notifications/cancelled' && isJsonObject(body['params']))
      cancels.broadcast(caller, caller.sessionId, body['params']['requestId'], body['params']['reason']);
    if (caller.modern && isJsonObject(body) && typeof body['method'] === 'string' && body['id'] !== undefined && !MODERN_REQUEST_METHODS.has(body['method']))
      return sendJson(res, 404, { jsonrpc: '2.0', id: body['id'], error: { code: -32601, message: `Method not found: ${body['method'].slice(0, 100)}` } });
    // A 2026 client's listen stream: the resources its filter names are subscribed to first.
    if (caller.modern && isListenRequest(body)) return resourceUpdates.serveListen(caller, body, res, () => callerOfRequest.run(caller, () => mcp(req, res, body)));
    if (tryFastCall(req, res, body, caller, relay, log)) return;
    return callerOfRequest.run(caller, () => mcp(req, res, body), subscriptions);
  }

  /**
   * A 2025 session's subscriptions, as its requests see them: kept in its KV record, for whichever
   * replica holds its GET stream. That replica takes a subscription up when it sees the record
   * change; until it has, this one holds a lease of its own (for SESSION_BRIDGE_MS), so the
   * upstream is subscribed before the client is told it is, and an update the upstream sends
   * right after is not lost.
   */
  function sessionSubscriptions(sessionId: string, caller: Caller): ResourceSubscriptionSet {
    const { owner } = caller;
    return {
      async add(ref, clientUri) {
        let added = false;
        await sessions.setResources(sessionId, owner, (uris) => {
          added = false;
          if (uris.includes(clientUri)) return [...uris];
          if (uris.length >= MAX_SUBSCRIPTIONS_PER_CLIENT) throw new McpbusError(ErrorCode.InvalidParams, `A session may subscribe to ${MAX_SUBSCRIPTIONS_PER_CLIENT} resources at most`);
          added = true;
          return [...uris, clientUri];
        });
        // Subscribed already: the stream's replica holds it.
        if (!added) return;
        const bridge = resourceUpdates.subscriptionsFor(caller, () => undefined);
        try {
          await bridge.add(ref, clientUri);
        } catch (err: unknown) {
          // The upstream cannot be subscribed to: the session does not keep what it could not get.
          await sessions.setResources(sessionId, owner, (uris) => uris.filter((u) => u !== clientUri)).catch(() => undefined);
          await bridge.close();
          throw err;
        }
        setTimeout(() => void bridge.close().catch(() => undefined), SESSION_BRIDGE_MS).unref();
      },
      async remove(clientUri) {
        await sessions.setResources(sessionId, owner, (uris) => uris.filter((u) => u !== clientUri));
      },
      close: () => Promise.resolve(),
    };
  }

  /**
   * A 2025-era session's GET stream, for the notifications of its client: list changes, and
   * updates of the resources the session subscribed to (on any replica: this one follows the
   * session's record and holds the subscriptions while the stream is open).
   */
  function openSessionStream(res: ServerResponse, sessionId: string, caller: Caller): void {
    if (draining) return sendRpcError(res, new McpbusError(ErrorCode.Overloaded, 'This ingress is shutting down; reconnect'));
    const stream = sessionStreams.open(res, sessionId, caller.scope, caller.owner);
    if (stream === undefined) return sendRpcError(res, new McpbusError(ErrorCode.Overloaded, `This ingress holds ${settings.maxSseSessions} session streams already (max_sse_sessions); retry on another replica`));
    // A stream lives as long as its client wants it: it is not a request being answered.
    active.delete(res);
    const held = resourceUpdates.subscriptionsFor(caller, (uri) => stream.send({ method: 'notifications/resources/updated', params: { uri } }));
    const current = new Set<string>();
    const sync = async (): Promise<void> => {
      const found = await sessions.find(sessionId, caller.owner);
      // The session ended (DELETE on any replica, or expired): so does its stream.
      if ('missing' in found) {
        res.end();
        return;
      }
      const wanted = new Set('found' in found ? (found.found.resources ?? []) : [...current]);
      for (const uri of wanted) {
        if (current.has(uri)) continue;
        current.add(uri);
        try {
          await held.add(resourceOf(uri, caller, servers), uri);
        } catch (err: unknown) {
          current.delete(uri);
          log.debug({ err: messageOf(err) }, 'a session resource subscription could not be made');
        }
      }
      for (const uri of [...current]) {
        if (wanted.has(uri)) continue;
        current.delete(uri);
        await held.remove(uri).catch(() => undefined);
      }
    };
    // One sync at a time, so an add and a remove of the same resource cannot interleave.
    let syncing: Promise<void> = Promise.resolve();
    const resync = (): void => {
      syncing = syncing.then(sync).catch(() => undefined);
    };
    const stop = sessions.onChange(sessionId, resync);
    resync();
    stream.onClose(() => {
      stop();
      void held.close().catch(() => undefined);
    });
  }

  /** A 2024-11-05 SSE session: classic `sse_client(".../sse")` and `sse_client(".../mcp/")` clients. */
  async function openLegacySession(req: IncomingMessage, res: ServerResponse, scope: Scope, principal: Principal): Promise<void> {
    if (draining) return sendRpcError(res, new McpbusError(ErrorCode.Overloaded, 'This ingress is shutting down; reconnect'));
    active.delete(res);
    await legacy.open(res, scope, { ...credentialOf(presentedKey(req.headers), principal.access), clientHeaders: clientCredentialHeaders(req.headers) });
  }

  async function serveLegacy(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const principal = await admitted(req, res, sendRpcError);
    if (principal === undefined) return;
    if (path === LEGACY_MESSAGES_PATH) {
      if (req.method !== 'POST') return sendRpcError(res, new McpbusError(ErrorCode.BadRequest, `Use POST ${LEGACY_MESSAGES_PATH}?sessionId=…`));
      let body: unknown;
      try {
        body = await readBody(req);
      } catch (err: unknown) {
        return sendRpcError(res, err instanceof McpbusError ? err : new McpbusError(ErrorCode.BadRequest, 'Cannot read the request body'));
      }
      return legacy.post(req, res, body, credentialOf(presentedKey(req.headers), principal.access));
    }
    if (req.method !== 'GET') return sendRpcError(res, new McpbusError(ErrorCode.BadRequest, 'Use GET /sse to open a session'));
    const scope = scopeOf('/mcp', req.headers, knownServers, principal.access);
    if (scope instanceof McpbusError) return sendRpcError(res, scope);
    return openLegacySession(req, res, scope, principal);
  }

  async function serveReadiness(res: ServerResponse): Promise<void> {
    const natsUp = natsState.connected();
    const workers = natsUp && (await bus.pingWorkers(1_000));
    const ready = natsUp && workers;
    sendJson(res, ready ? 200 : 503, {
      status: ready ? 'healthy' : 'unhealthy',
      nats: natsUp ? 'connected' : 'disconnected',
      workers: workers ? 'responding' : 'none responding',
    });
  }

  /**
   * Metrics name every server and tool, so only the master key reads them here (or anyone, when
   * no master key is set). Scrapers that cannot send a key use `--health-port`, which is meant
   * to stay on an internal network. No Host/Origin check: a browser cannot present the key.
   */
  async function serveIngressMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const principal = keys.authenticate(presentedKey(req.headers));
    if (principal instanceof McpbusError) return sendRestError(res, principal);
    if (!principal.admin && config.masterKey !== undefined) return sendRestError(res, new McpbusError(ErrorCode.Forbidden, 'Only the master key may read /metrics'));
    return serveMetrics(res);
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/health/liveliness' || path === '/health/liveness') return sendJson(res, 200, "I'm alive!");
    if (path === '/health/readiness') return serveReadiness(res);
    if (path === '/metrics') return serveIngressMetrics(req, res);
    // REST paths come first: a server named "enabled" or "tools" is reached as /{server}/mcp.
    const restRoute = restRouteOf(path);
    if (restRoute !== undefined) {
      const principal = await admitted(req, res, sendRestError);
      if (principal !== undefined) await serveRest(restRoute, req, res, principal.access, rest);
      return;
    }
    const callRoute = callRouteOf(path);
    if (callRoute !== undefined) {
      const principal = await admitted(req, res, sendRestError);
      if (principal !== undefined) await serveCall(callRoute, req, res, callerOf(req.headers, ALL_SERVERS, principal.access), callsHttp).catch((err: unknown) => sendRestError(res, err instanceof McpbusError ? err : new McpbusError(ErrorCode.Internal, 'Internal error')));
      return;
    }
    const adminRoute = adminRouteOf(path);
    if (adminRoute !== undefined) {
      const principal = await admitted(req, res, sendRestError);
      if (principal !== undefined) await serveAdmin(adminRoute, req, res, principal, admin);
      return;
    }
    if (path === '/sse' || path === LEGACY_MESSAGES_PATH) return serveLegacy(req, res, path);
    if (path === '/mcp' || path === '/mcp/' || serverInPath(path) !== undefined) return serveMcp(req, res, path);
    sendJson(res, 404, { error: { code: 'not_found', message: `No route for ${req.method ?? 'GET'} ${path}` } });
  }

  const server = createServer((req, res) => {
    // A draining ingress answers every request (even on a connection a balancer keeps alive)
    // with Connection: close, so the balancer stops sending it more.
    if (draining) res.setHeader('Connection', 'close');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    // Load shedding: beyond its bound the ingress answers at once rather than queue work it
    // cannot do in time. Probes and metrics are always answered.
    if (settings.maxInflightRequests > 0 && active.size >= settings.maxInflightRequests && !PROBE_PATHS.has(path)) {
      ingressShed.inc();
      const overloaded = new McpbusError(ErrorCode.Overloaded, `This ingress is answering ${settings.maxInflightRequests} requests already (max_inflight_requests); retry shortly or on another replica`);
      return restRouteOf(path) !== undefined || callRouteOf(path) !== undefined || adminRouteOf(path) !== undefined ? sendRestError(res, overloaded) : sendRpcError(res, overloaded);
    }
    active.add(res);
    res.on('close', () => active.delete(res));
    observeRequest(req, res, path, () => route(req, res, path)).catch((err: unknown) => {
      log.error({ err: messageOf(err) }, 'request failed');
      sendRpcError(res, new McpbusError(ErrorCode.Internal, 'Internal error'));
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  log.info({ url: `${url}/mcp` }, 'ingress listening');

  let closing: Promise<void> | undefined;
  async function drain(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const until = Date.now() + settings.drainTimeoutMs;
    draining = true;
    for (const res of active) if (!res.headersSent) res.setHeader('Connection', 'close');
    legacy.startDraining();
    while ((active.size > 0 || calls > 0) && Date.now() < until) {
      // Connections busy at SIGTERM become idle as their answers end: close them then.
      server.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 25));
    }
    changes.unsubscribe();
    pendingChanges.close();
    cancels.close();
    sessionStreams.close();
    callStreams.close();
    sessions.close();
    await legacy.close();
    await handler.close();
    await resourceUpdates.close();
    server.closeAllConnections();
    await closed;
    await Promise.allSettled([keys.close(), servers.close()]);
    log.info('ingress stopped');
  }

  return {
    port,
    url,
    close() {
      closing ??= drain();
      return closing;
    },
  };
}
