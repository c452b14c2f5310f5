import { Client, type PriorDiscovery, type Transport, type VersionNegotiationMode } from '@modelcontextprotocol/client';
import type { ServerConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError, messageOf } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { ssrfRefusal, upstreamFailure } from './errors.js';
import { createUpstreamSubscriptions } from './resource-subscriptions.js';
import { createTransport, describeServer } from './transport.js';

export type ProtocolEra = 'legacy' | 'modern';
/** The lists an upstream can announce changes of. */
export type ListKind = 'tools' | 'resources' | 'prompts';
const LIST_KINDS: readonly ListKind[] = ['tools', 'resources', 'prompts'];

/** An upstream progress notification's payload, as relayed. */
export interface UpstreamProgress {
  progress: number;
  total?: number;
  message?: string;
}

export interface ServerSessionsOptions {
  server: ServerConfig;
  log: Logger;
  clientInfo?: { name: string; version: string };
  /** Called when the upstream says a list changed (and, for every kind, when a session restarts). */
  onListChanged?: (kind: ListKind) => void;
  connectTimeoutMs?: number;
  /** Makes the transport of each session; defaults to the server's configured transport. */
  transportFactory?: () => Transport;
  /** First and largest delay between reconnect attempts. */
  backoff?: { initialMs: number; maxMs: number };
}

/** The pooled upstream sessions of one server. */
export interface ServerSessions {
  readonly server: ServerConfig;
  /** A connected client; connects (or waits for a connection) when none is live. */
  acquire(): Promise<Client>;
  /**
   * Routes upstream `notifications/progress` carrying `token` to `onProgress` until the
   * returned function is called. Send the token as the request's `_meta.progressToken`.
   */
  trackProgress(token: string, onProgress: (progress: UpstreamProgress) => void): () => void;
  /**
   * Drops a session whose transport failed (e.g. a stateful HTTP upstream that forgot its
   * session after a restart), so the next caller gets a fresh one.
   */
  discard(client: Client): void;
  /**
   * A session outside the pool for one call at a time whose caller can answer the upstream's
   * requests, or wants its log messages: it declares exactly `capabilities` (a pooled session
   * declares none, so the upstream never asks on one), answers the upstream's
   * `elicitation/create`, `sampling/createMessage` and `roots/list` with the lease's `onRequest`,
   * and hands its `notifications/message` to the lease's `onLog` (no other call runs on it).
   * `logLevel` is sent with `logging/setLevel` when the session speaks the 2025 era. With `legacy`, it
   * speaks the 2025 era whatever the upstream's newest (a 2025 client's upstream then pushes its
   * requests as it would to that client). Sessions are reused only by the same `owner` with the
   * same capabilities (an upstream may remember a client's roots), and only after a call that
   * ended cleanly.
   */
  leaseDedicated(owner: string, capabilities: Record<string, unknown>, options?: { legacy?: boolean; logLevel?: string }): Promise<DedicatedLease>;
  /**
   * Subscribes to updates of one upstream resource (`resources/subscribe` on a 2025 session, a
   * `subscriptions/listen` stream on a 2026 one), kept until unsubscribed: a session that
   * closes is replaced and the subscription made again on the new one. Fails when the upstream
   * does not support resource subscriptions.
   */
  subscribeResource(uri: string): Promise<void>;
  unsubscribeResource(uri: string): Promise<void>;
  /**
   * Hears every update of a subscribed resource (the upstream URI), and one for each when its
   * session was replaced (updates may have been missed meanwhile). Returns the unsubscribe.
   */
  onResourceUpdated(listener: (uri: string) => void): () => void;
  /** How many sessions the pool keeps and how many are connected right now (for metrics). */
  stats(): { poolSize: number; connected: number };
  /** Closes every session and stops reconnecting; stdio children are terminated. */
  close(): Promise<void>;
}

/** A dedicated session lent to one call. */
export interface DedicatedLease {
  readonly client: Client;
  /** The call's own handlers of what the session hears, set for as long as it holds the lease. */
  readonly handlers: DedicatedHandlers;
  /** Gives it back: kept for the next call of the same owner when `reusable`, closed otherwise. */
  release(reusable: boolean): void;
}

/** Where a dedicated session's upstream requests, log messages and stream resumes go: the call it is lent to. */
export interface DedicatedHandlers {
  /** Answers the upstream's requests during this call. */
  onRequest: UpstreamRequestHandler;
  /** Hears the upstream's log messages during this call (the session was opened with a log level). */
  onLog: (params: Record<string, unknown>) => void;
  /** Hears each resume of one of the session's SSE streams (Streamable HTTP), with the last event id it got. */
  onResume: (lastEventId: string) => void;
}

/** Idle dedicated sessions kept per owner and capabilities, and how long. */
const DEDICATED_IDLE_MAX = 4;
/** Idle dedicated sessions kept per server, all owners together. */
const DEDICATED_IDLE_TOTAL = 32;
const DEDICATED_IDLE_MS = 60_000;

/** Answers a server-to-client request an upstream made on a dedicated session. */
export type UpstreamRequestHandler = (method: 'elicitation/create' | 'sampling/createMessage' | 'roots/list', params: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** Which client capability lets an upstream make each server-to-client request. */
const REQUEST_CAPABILITY = { 'elicitation/create': 'elicitation', 'sampling/createMessage': 'sampling', 'roots/list': 'roots' } as const;

interface Slot {
  client: Client | undefined;
  /** When the live session was opened; a session that dies young counts as a failure. */
  connectedAt: number;
  /** A session of this slot closed and has not been replaced yet. */
  lost: boolean;
  connecting: Promise<Client> | undefined;
  failures: number;
  retryAt: number;
  lastError: McpbusError | undefined;
  timer: NodeJS.Timeout | undefined;
}

const PINNED_MODERN = '2026-07-28';
/** The least a stdio server is given to start and answer `initialize`. */
const STDIO_START_MS = 10_000;
/** A session that stayed up this long resets the backoff when it closes. */
const STABLE_SESSION_MS = 30_000;

function negotiationFor(server: ServerConfig): VersionNegotiationMode {
  if (server.specVersion === PINNED_MODERN) return { pin: PINNED_MODERN };
  // Legacy SSE has no server/discover, a configured 2025 revision needs no probe, and the
  // in-process server of mcp_tools is ours.
  if (server.specVersion !== undefined || server.transport === 'sse' || server.transport === 'local') return 'legacy';
  return 'auto';
}

/**
 * Keeps `poolSize` sessions to one upstream, used round-robin; one MCP client multiplexes many
 * concurrent calls, so no session is opened per call. The era is probed on the first connect
 * and reused as `prior` for every later one. A session that closes is reconnected after an
 * exponential backoff; while a server is backing off, callers fail fast with the last error.
 */
export function createServerSessions(options: ServerSessionsOptions): ServerSessions {
  const { server } = options;
  const log = options.log.child({ server: server.name });
  // A stdio server must also start within it: a loaded machine takes seconds to spawn one, so a
  // small timeout_ms does not starve the start (it bounds calls, not the spawn).
  const connectTimeoutMs = options.connectTimeoutMs ?? Math.min(server.transport === 'stdio' ? Math.max(server.timeoutMs, STDIO_START_MS) : server.timeoutMs, 30_000);
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 30_000 };
  const clientInfo = options.clientInfo ?? { name: 'mcpbus', version: '0.1.0' };
  const slots: Slot[] = Array.from({ length: Math.max(1, server.poolSize) }, () => ({
    client: undefined,
    connectedAt: 0,
    lost: false,
    connecting: undefined,
    failures: 0,
    retryAt: 0,
    lastError: undefined,
    timer: undefined,
  }));
  const progressRoutes = new Map<string, (progress: UpstreamProgress) => void>();
  let verdict: PriorDiscovery | undefined;
  let warnedResultType = false;
  let next = 0;
  let closed = false;
  const resources = createUpstreamSubscriptions({
    server: server.name,
    acquire: () => subscriptionClient(),
    timeoutMs: connectTimeoutMs,
    retryMs: backoff.initialMs,
    maxRetryMs: backoff.maxMs,
    closed: () => closed,
    log,
  });

  /** Connects a new session (with the era verdict known so far), or closes it and says why not. */
  async function connectNew(client: Client, transport: Transport, prior: PriorDiscovery | undefined): Promise<void> {
    try {
      await client.connect(transport, { timeout: connectTimeoutMs, ...(prior === undefined ? {} : { prior }) });
    } catch (err: unknown) {
      await client.close().catch(() => undefined);
      throw upstreamFailure(server.name, err, { timeoutMs: connectTimeoutMs, aborted: false });
    }
    if (closed) {
      await client.close().catch(() => undefined);
      throw new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server.name}" is shutting down`);
    }
  }

  // An upstream whose 2026 side offers no resource subscriptions (a stateless server) may offer
  // them on 2025-era sessions, as 2025 clients connected to it directly would find: those
  // subscriptions are made on a 2025-era session of their own.
  let subscriptionSession: Promise<Client> | undefined;

  async function subscriptionClient(): Promise<Client> {
    const pooled = await acquire();
    if (pooled.getProtocolEra() !== 'modern' || pooled.getServerCapabilities()?.resources?.subscribe === true || server.specVersion === PINNED_MODERN) return pooled;
    subscriptionSession ??= openSubscriptionSession().catch((err: unknown) => {
      subscriptionSession = undefined;
      throw err;
    });
    return subscriptionSession;
  }

  async function openSubscriptionSession(): Promise<Client> {
    const client = new Client(clientInfo, { capabilities: {}, versionNegotiation: { mode: 'legacy' } });
    client.onerror = (err: Error) => log.debug({ err: err.message }, 'upstream protocol notice (subscription session)');
    client.setNotificationHandler('notifications/resources/updated', (notification) => resources.updated(notification.params.uri));
    await connectNew(client, options.transportFactory?.() ?? createTransport(server, log), { kind: 'legacy' });
    log.info({ where: describeServer(server) }, 'upstream offers resource subscriptions on 2025-era sessions only; they are made on one');
    client.onclose = () => {
      subscriptionSession = undefined;
      // Its subscriptions are made again on the next one, after a pause.
      if (!closed) setTimeout(() => resources.restore(), backoff.initialMs).unref();
    };
    return client;
  }

  const delayFor = (failures: number): number => Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failures - 1));

  async function open(slot: Slot): Promise<Client> {
    const client = new Client(clientInfo, { capabilities: {}, versionNegotiation: { mode: negotiationFor(server) } });
    client.onerror = (err: Error) => log.debug({ err: err.message }, 'upstream protocol notice');
    // 2025 sessions deliver this notification unsolicited; 2026 ones on the listen stream below.
    for (const kind of LIST_KINDS) client.setNotificationHandler(`notifications/${kind}/list_changed`, () => options.onListChanged?.(kind));
    client.setNotificationHandler('notifications/resources/updated', (notification) => resources.updated(notification.params.uri));
    await connectNew(client, options.transportFactory?.() ?? createTransport(server, log), verdict);
    interceptMessages(client);
    const detected: ProtocolEra = client.getProtocolEra() === 'modern' ? 'modern' : 'legacy';
    if (verdict === undefined) {
      const discover = client.getDiscoverResult();
      verdict = detected === 'modern' && discover !== undefined ? { kind: 'modern', discover } : { kind: 'legacy' };
      log.info({ era: detected, where: describeServer(server) }, 'upstream era detected');
    }
    if (detected === 'modern') void listenForListChanges(client, slot);
    client.onclose = () => {
      if (slot.client !== client) return;
      slot.client = undefined;
      if (closed) return;
      // A child that crashes right after starting must not be respawned in a tight loop.
      slot.failures = Date.now() - slot.connectedAt >= STABLE_SESSION_MS ? 1 : slot.failures + 1;
      slot.retryAt = Date.now() + delayFor(slot.failures);
      slot.lastError = new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server.name}" closed the session`, { data: { server: server.name } });
      log.warn({ retryInMs: delayFor(slot.failures) }, 'upstream session closed; reconnecting');
      slot.lost = true;
      schedule(slot);
    };
    return client;
  }

  /**
   * Two things are taken off the transport as they arrive, before the SDK sees them.
   * - Progress: the SDK would route it a microtask later and drop the last update when the result
   *   arrives in the same chunk (typescript-sdk#2580); reading it here keeps every update, in
   *   order, ahead of the result.
   * - A 2026-era result without `resultType`: servers on the 1.x SDK that speak 2026-07-28 (the
   *   conformance suite's own reference server among them) leave it out of `tools/call` results,
   *   which the SDK then refuses outright. Such a result is what the field's absence means for
   *   every earlier revision, a complete one, so it is marked so (and logged once per server).
   */
  function interceptMessages(client: Client): void {
    const transport = client.transport;
    const inner = transport?.onmessage;
    if (transport === undefined || inner === undefined) return;
    transport.onmessage = (message, extra) => {
      if ('result' in message && typeof message.result === 'object' && message.result !== null && !('resultType' in message.result) && !('inputRequests' in message.result) && !('task' in message.result) && client.getProtocolEra() === 'modern') {
        if (!warnedResultType) log.warn({ where: describeServer(server) }, 'upstream omits resultType from 2026-07-28 results; taking them as complete');
        warnedResultType = true;
        (message.result as Record<string, unknown>)['resultType'] = 'complete';
      }
      if ('method' in message && message.method === 'notifications/progress' && message.params !== undefined) {
        const params = message.params as Record<string, unknown>;
        const route = typeof params['progressToken'] === 'string' ? progressRoutes.get(params['progressToken']) : undefined;
        if (route !== undefined && typeof params['progress'] === 'number') {
          const update: UpstreamProgress = { progress: params['progress'] };
          if (typeof params['total'] === 'number') update.total = params['total'];
          if (typeof params['message'] === 'string') update.message = params['message'];
          route(update);
          return;
        }
      }
      inner.call(transport, message, extra);
    };
  }

  /**
   * A 2026 upstream sends list_changed notifications only on a subscriptions/listen stream. If
   * that stream ends while the session lives on, every list is treated as changed so nothing
   * is missed, and the stream is opened again.
   */
  async function listenForListChanges(client: Client, slot: Slot): Promise<void> {
    const caps = client.getServerCapabilities();
    const filter = {
      ...(caps?.tools?.listChanged === true ? { toolsListChanged: true } : {}),
      ...(caps?.resources?.listChanged === true ? { resourcesListChanged: true } : {}),
      ...(caps?.prompts?.listChanged === true ? { promptsListChanged: true } : {}),
    };
    if (Object.keys(filter).length === 0) return;
    try {
      const subscription = await client.listen(filter);
      const ended = await subscription.closed;
      if (ended !== 'local' && slot.client === client && !closed) {
        for (const kind of LIST_KINDS) options.onListChanged?.(kind);
        await new Promise((r) => setTimeout(r, backoff.initialMs).unref());
        if (slot.client === client && !closed) void listenForListChanges(client, slot);
      }
    } catch (err: unknown) {
      log.debug({ err: messageOf(err) }, 'upstream refused subscriptions/listen; relying on the catalog TTL');
    }
  }

  function connect(slot: Slot): Promise<Client> {
    if (slot.connecting !== undefined) return slot.connecting;
    const attempt = open(slot).then(
      (client) => {
        slot.client = client;
        slot.connectedAt = Date.now();
        slot.lastError = undefined;
        // A restarted upstream may list different tools, resources and prompts. Said once it is
        // back, so clients that re-list find it there rather than missing.
        if (slot.lost) {
          slot.lost = false;
          for (const kind of LIST_KINDS) options.onListChanged?.(kind);
        }
        resources.restore();
        return client;
      },
      (err: unknown) => {
        const failure = err instanceof McpbusError ? err : upstreamFailure(server.name, err, { timeoutMs: connectTimeoutMs, aborted: false });
        slot.failures += 1;
        slot.lastError = failure;
        slot.retryAt = Date.now() + delayFor(slot.failures);
        const refusal = ssrfRefusal(err);
        log.warn({ err: refusal?.message ?? failure.message, retryInMs: delayFor(slot.failures) }, 'upstream connect failed');
        schedule(slot);
        throw failure;
      },
    );
    slot.connecting = attempt.finally(() => {
      slot.connecting = undefined;
    });
    return slot.connecting;
  }

  function schedule(slot: Slot): void {
    if (closed || slot.timer !== undefined) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!closed && slot.client === undefined) connect(slot).catch(() => undefined);
    }, Math.max(0, slot.retryAt - Date.now()));
    slot.timer.unref();
  }

  /** Opens sessions for idle slots in the background, so `pool_size` sessions share the load. */
  function fill(): void {
    for (const slot of slots) {
      if (slot.client === undefined && slot.connecting === undefined && slot.timer === undefined && Date.now() >= slot.retryAt) connect(slot).catch(() => undefined);
    }
  }

  /** A connected pooled client, round-robin; connects (or waits for a connection) when none is live. */
  async function acquire(): Promise<Client> {
    if (closed) throw new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server.name}" is shutting down`);
    const live = slots.filter((s) => s.client !== undefined);
    if (live.length < slots.length) fill();
    if (live.length > 0) {
      next = (next + 1) % live.length;
      return (live[next] as Slot).client as Client;
    }
    const pending = slots.find((s) => s.connecting !== undefined);
    if (pending?.connecting !== undefined) return pending.connecting;
    const ready = slots.find((s) => Date.now() >= s.retryAt);
    if (ready !== undefined) return connect(ready);
    const soonest = slots.reduce((a, b) => (a.retryAt <= b.retryAt ? a : b));
    throw new McpbusError(
      ErrorCode.UpstreamUnavailable,
      `upstream server "${server.name}" is unavailable (retrying in ${Math.max(0, soonest.retryAt - Date.now())} ms): ${soonest.lastError?.message ?? 'not connected'}`,
      { data: { server: server.name } },
    );
  }

  // Idle dedicated sessions by owner and capabilities (and era), each with its handler slot.
  const idleDedicated = new Map<string, { client: Client; slot: DedicatedHandlers; timer: NodeJS.Timeout }[]>();
  const ignore = (): void => undefined;
  const refuse: UpstreamRequestHandler = () => Promise.reject(new McpbusError(ErrorCode.Cancelled, 'no call is waiting for this request'));
  /** What a session not lent to any call does with what it hears: refuses requests, drops the rest. */
  const idleHandlers = (): DedicatedHandlers => ({ onRequest: refuse, onLog: ignore, onResume: ignore });

  async function openDedicated(capabilities: Record<string, unknown>, slot: DedicatedHandlers, legacy: boolean, logLevel: string | undefined): Promise<Client> {
    if (closed) throw new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server.name}" is shutting down`);
    const client = new Client(clientInfo, { capabilities, versionNegotiation: { mode: legacy ? 'legacy' : negotiationFor(server) } });
    client.onerror = (err: Error) => log.debug({ err: err.message }, 'upstream protocol notice (dedicated session)');
    for (const [method, capability] of Object.entries(REQUEST_CAPABILITY) as [keyof typeof REQUEST_CAPABILITY, string][]) {
      // The SDK refuses a handler for a capability the client did not declare.
      if (capabilities[capability] !== undefined) client.setRequestHandler(method, (request) => slot.onRequest(method, { ...(request.params ?? {}) }) as never);
    }
    for (const kind of LIST_KINDS) client.setNotificationHandler(`notifications/${kind}/list_changed`, () => options.onListChanged?.(kind));
    client.setNotificationHandler('notifications/message', (notification) => slot.onLog({ ...notification.params }));
    const transport = options.transportFactory?.() ?? createTransport(server, log, { onResume: (lastEventId) => slot.onResume(lastEventId) });
    await connectNew(client, transport, legacy ? { kind: 'legacy' } : verdict);
    interceptMessages(client);
    // The caller's logging/setLevel, for this session only (2025 era; a 2026 upstream takes it per request).
    if (logLevel !== undefined && client.getServerCapabilities()?.logging !== undefined && client.getProtocolEra() !== 'modern') {
      await client.setLoggingLevel(logLevel as never).catch((err: unknown) => log.debug({ err: messageOf(err) }, 'upstream refused logging/setLevel'));
    }
    return client;
  }

  async function leaseDedicated(owner: string, capabilities: Record<string, unknown>, leaseOptions: { legacy?: boolean; logLevel?: string } = {}): Promise<DedicatedLease> {
    const legacy = leaseOptions.legacy === true && server.specVersion !== PINNED_MODERN;
    // The capabilities come canonical (inputCapabilities), so a client cannot make every call open
    // a session of its own; the idle sessions are bounded per key and per server besides.
    const key = `${owner}\u0000${legacy ? 'legacy' : 'auto'}\u0000${leaseOptions.logLevel ?? ''}\u0000${JSON.stringify(capabilities)}`;
    const idleList = idleDedicated.get(key);
    let entry = idleList?.pop();
    if (entry !== undefined) clearTimeout(entry.timer);
    // A session that closed while idle is not lent again.
    while (entry !== undefined && entry.client.transport === undefined) {
      entry = idleList?.pop();
      if (entry !== undefined) clearTimeout(entry.timer);
    }
    if (idleList?.length === 0) idleDedicated.delete(key);
    const slot: DedicatedHandlers = entry?.slot ?? idleHandlers();
    const client = entry?.client ?? (await openDedicated(capabilities, slot, legacy, leaseOptions.logLevel));
    let released = false;
    return {
      client,
      handlers: slot,
      release(reusable) {
        if (released) return;
        released = true;
        Object.assign(slot, idleHandlers());
        const idle = idleDedicated.get(key) ?? [];
        let idleTotal = 0;
        for (const list of idleDedicated.values()) idleTotal += list.length;
        if (!reusable || closed || client.transport === undefined || idle.length >= DEDICATED_IDLE_MAX || idleTotal >= DEDICATED_IDLE_TOTAL) {
          void client.close().catch(() => undefined);
          return;
        }
        const timer = setTimeout(() => {
          const list = idleDedicated.get(key);
          const at = list?.findIndex((e) => e.client === client) ?? -1;
          // Lent again meanwhile: not this timer's to close.
          if (list === undefined || at < 0) return;
          list.splice(at, 1);
          if (list.length === 0) idleDedicated.delete(key);
          void client.close().catch(() => undefined);
        }, DEDICATED_IDLE_MS);
        timer.unref();
        idle.push({ client, slot, timer });
        idleDedicated.set(key, idle);
      },
    };
  }

  return {
    server,
    leaseDedicated,
    trackProgress(token, onProgress) {
      progressRoutes.set(token, onProgress);
      return () => progressRoutes.delete(token);
    },
    discard(client) {
      const slot = slots.find((s) => s.client === client);
      if (slot === undefined) return;
      log.warn('upstream session failed; opening a new one');
      // Cleared first, so its close is not counted as a crash: the next caller reconnects at once.
      slot.client = undefined;
      void client.close();
    },
    stats() {
      let connected = 0;
      for (const slot of slots) if (slot.client !== undefined) connected += 1;
      return { poolSize: slots.length, connected };
    },
    acquire,
    subscribeResource: (uri) => resources.subscribe(uri),
    unsubscribeResource: (uri) => resources.unsubscribe(uri),
    onResourceUpdated: (listener) => resources.onUpdated(listener),
    async close() {
      if (closed) return;
      closed = true;
      for (const slot of slots) if (slot.timer !== undefined) clearTimeout(slot.timer);
      for (const idle of idleDedicated.values()) {
        for (const { client, timer } of idle) {
          clearTimeout(timer);
          void client.close().catch(() => undefined);
        }
      }
      idleDedicated.clear();
      void subscriptionSession?.then((client) => client.close()).catch(() => undefined);
      const clients = slots.map((s) => s.client).filter((c): c is Client => c !== undefined);
      const pending = slots.map((s) => s.connecting).filter((p): p is Promise<Client> => p !== undefined);
      await Promise.allSettled([...clients.map((c) => c.close()), ...pending.map((p) => p.then((c) => c.close()))]);
    },
  };
}
