import { Client, type PriorDiscovery, type VersionNegotiationMode } from '@modelcontextprotocol/client';
import type { ServerConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { upstreamFailure } from './errors.js';
import { createTransport, describeServer } from './transport.js';

export type ProtocolEra = 'legacy' | 'modern';

export interface ServerSessionsOptions {
  server: ServerConfig;
  log: Logger;
  clientInfo?: { name: string; version: string };
  /** Called when the upstream says its tool list changed. */
  onToolsChanged?: () => void;
  connectTimeoutMs?: number;
  /** First and largest delay between reconnect attempts. */
  backoff?: { initialMs: number; maxMs: number };
}

/** The pooled upstream sessions of one server. */
export interface ServerSessions {
  readonly server: ServerConfig;
  /** A connected client; connects (or waits for a connection) when none is live. */
  acquire(): Promise<Client>;
  /** The era detected on first connect, once known. */
  era(): ProtocolEra | undefined;
  /** Closes every session and stops reconnecting; stdio children are terminated. */
  close(): Promise<void>;
}

interface Slot {
  client: Client | undefined;
  connecting: Promise<Client> | undefined;
  failures: number;
  retryAt: number;
  lastError: McpbusError | undefined;
  timer: NodeJS.Timeout | undefined;
}

const PINNED_MODERN = '2026-07-28';

function negotiationFor(server: ServerConfig): VersionNegotiationMode {
  if (server.specVersion === PINNED_MODERN) return { pin: PINNED_MODERN };
  // Legacy SSE has no server/discover, and a configured 2025 revision needs no probe.
  if (server.specVersion !== undefined || server.transport === 'sse') return 'legacy';
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
  const connectTimeoutMs = options.connectTimeoutMs ?? Math.min(server.timeoutMs, 30_000);
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 30_000 };
  const clientInfo = options.clientInfo ?? { name: 'mcpbus', version: '0.1.0' };
  const slots: Slot[] = Array.from({ length: Math.max(1, server.poolSize) }, () => ({
    client: undefined,
    connecting: undefined,
    failures: 0,
    retryAt: 0,
    lastError: undefined,
    timer: undefined,
  }));
  let verdict: PriorDiscovery | undefined;
  let era: ProtocolEra | undefined;
  let next = 0;
  let closed = false;

  const delayFor = (failures: number): number => Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failures - 1));

  async function open(slot: Slot): Promise<Client> {
    const client = new Client(clientInfo, { capabilities: {}, versionNegotiation: { mode: negotiationFor(server) } });
    client.onerror = (err: Error) => log.debug({ err: err.message }, 'upstream protocol notice');
    // 2025 sessions deliver this notification unsolicited; 2026 ones on the listen stream below.
    client.setNotificationHandler('notifications/tools/list_changed', () => options.onToolsChanged?.());
    const transport = createTransport(server, log);
    try {
      await client.connect(transport, { timeout: connectTimeoutMs, ...(verdict === undefined ? {} : { prior: verdict }) });
    } catch (err: unknown) {
      await client.close().catch(() => undefined);
      throw upstreamFailure(server.name, err, { timeoutMs: connectTimeoutMs, aborted: false });
    }
    if (closed) {
      await client.close().catch(() => undefined);
      throw new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server.name}" is shutting down`);
    }
    const detected: ProtocolEra = client.getProtocolEra() === 'modern' ? 'modern' : 'legacy';
    if (verdict === undefined) {
      const discover = client.getDiscoverResult();
      verdict = detected === 'modern' && discover !== undefined ? { kind: 'modern', discover } : { kind: 'legacy' };
      era = detected;
      log.info({ era: detected, where: describeServer(server) }, 'upstream era detected');
    }
    if (detected === 'modern') void listenForToolChanges(client, slot);
    client.onclose = () => {
      if (slot.client !== client) return;
      slot.client = undefined;
      if (closed) return;
      log.warn('upstream session closed; reconnecting');
      // A restarted upstream may list different tools.
      options.onToolsChanged?.();
      schedule(slot);
    };
    return client;
  }

  /**
   * A 2026 upstream sends notifications/tools/list_changed only on a subscriptions/listen
   * stream. If that stream ends while the session lives on, the catalog is marked stale so no
   * change can be missed, and the stream is opened again.
   */
  async function listenForToolChanges(client: Client, slot: Slot): Promise<void> {
    if (client.getServerCapabilities()?.tools?.listChanged !== true) return;
    try {
      const subscription = await client.listen({ toolsListChanged: true });
      const ended = await subscription.closed;
      if (ended !== 'local' && slot.client === client && !closed) {
        options.onToolsChanged?.();
        await new Promise((r) => setTimeout(r, backoff.initialMs).unref());
        if (slot.client === client && !closed) void listenForToolChanges(client, slot);
      }
    } catch (err: unknown) {
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'upstream refused subscriptions/listen; relying on the catalog TTL');
    }
  }

  function connect(slot: Slot): Promise<Client> {
    if (slot.connecting !== undefined) return slot.connecting;
    const attempt = open(slot).then(
      (client) => {
        slot.client = client;
        slot.failures = 0;
        slot.lastError = undefined;
        return client;
      },
      (err: unknown) => {
        const failure = err instanceof McpbusError ? err : upstreamFailure(server.name, err, { timeoutMs: connectTimeoutMs, aborted: false });
        slot.failures += 1;
        slot.lastError = failure;
        slot.retryAt = Date.now() + delayFor(slot.failures);
        log.warn({ err: failure.message, retryInMs: delayFor(slot.failures) }, 'upstream connect failed');
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
    }, delayFor(Math.max(slot.failures, 1)));
    slot.timer.unref();
  }

  return {
    server,
    era: () => era,
    async acquire() {
      if (closed) throw new McpbusError(ErrorCode.UpstreamUnavailable, `upstream server "${server.name}" is shutting down`);
      for (let i = 0; i < slots.length; i += 1) {
        const slot = slots[(next + i) % slots.length] as Slot;
        if (slot.client !== undefined) {
          next = (next + i + 1) % slots.length;
          return slot.client;
        }
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
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const slot of slots) if (slot.timer !== undefined) clearTimeout(slot.timer);
      const clients = slots.map((s) => s.client).filter((c): c is Client => c !== undefined);
      const pending = slots.map((s) => s.connecting).filter((p): p is Promise<Client> => p !== undefined);
      await Promise.allSettled([...clients.map((c) => c.close()), ...pending.map((p) => p.then((c) => c.close()))]);
    },
  };
}
