import type { Client, McpSubscription } from '@modelcontextprotocol/client';
import { ErrorCode, McpbusError, messageOf } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { upstreamFailure } from './errors.js';

/** One upstream resource subscription, and the session it was made on. */
interface Held {
  /** The session it was made on; undefined until it is made, and once that session is gone. */
  client: Client | undefined;
  /** 2026-era upstreams: the subscriptions/listen stream that carries its updates. */
  listen: McpSubscription | undefined;
  /** The subscription being made; concurrent callers share it. */
  making: Promise<void> | undefined;
}

export interface UpstreamSubscriptionsOptions {
  server: string;
  /** A live pooled session of the server. */
  acquire(): Promise<Client>;
  timeoutMs: number;
  /** First wait before making a subscription again after its 2026 listen stream ended on a live session; it doubles up to `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
  /** The pool is closed: nothing is made again. */
  closed(): boolean;
  log: Logger;
}

/** The resource subscriptions one server's pool keeps upstream (see ServerSessions.subscribeResource). */
export interface UpstreamSubscriptions {
  subscribe(uri: string): Promise<void>;
  unsubscribe(uri: string): Promise<void>;
  /** Makes again, on a live session, every subscription whose session is gone (a reconnect happened). */
  restore(): void;
  /** What a pooled session's `notifications/resources/updated` handler calls. */
  updated(uri: string): void;
  onUpdated(listener: (uri: string) => void): () => void;
}

const isLive = (client: Client | undefined): boolean => client?.transport !== undefined;

/**
 * Resource subscriptions made upstream the way the upstream's era wants: `resources/subscribe`
 * on a 2025 session (updates arrive unsolicited on that session), one `subscriptions/listen`
 * stream per resource on a 2026 one (updates arrive on it). One stream per resource, not one
 * stream whose filter grows: a filter cannot change, and swapping streams would lose or
 * repeat updates in between. A subscription outlives the session it was made on: when that
 * session closes, the next one to open makes it again.
 */
export function createUpstreamSubscriptions(options: UpstreamSubscriptionsOptions): UpstreamSubscriptions {
  const { server, log } = options;
  const held = new Map<string, Held>();
  const listeners = new Set<(uri: string) => void>();

  async function make(uri: string, entry: Held): Promise<void> {
    const client = await options.acquire();
    if (client.getServerCapabilities()?.resources?.subscribe !== true)
      throw new McpbusError(ErrorCode.InvalidParams, `upstream server "${server}" does not support resource subscriptions`, { data: { server } });
    try {
      if (client.getProtocolEra() === 'modern') {
        const listen = await client.listen({ resourceSubscriptions: [uri] }, { timeout: options.timeoutMs });
        if (listen.honoredFilter.resourceSubscriptions?.includes(uri) !== true) {
          await listen.close();
          throw new McpbusError(ErrorCode.InvalidParams, `upstream server "${server}" refused a subscription to ${uri}`, { data: { server } });
        }
        entry.listen = listen;
        void listen.closed.then((how) => onListenEnded(uri, entry, listen, client, how));
      } else {
        await client.request({ method: 'resources/subscribe', params: { uri } }, { timeout: options.timeoutMs });
      }
    } catch (err: unknown) {
      throw upstreamFailure(server, err, { timeoutMs: options.timeoutMs, aborted: false });
    }
    entry.client = client;
    // Unsubscribed while it was being made: undone at once.
    if (held.get(uri) !== entry) await undo(uri, entry);
  }

  /**
   * A 2026 listen stream that ended while its session lives on (an HTTP upstream that
   * restarted, say) is opened again, after a wait that doubles while that fails. One whose
   * session closed is made again when the pool reconnects (restore).
   */
  function onListenEnded(uri: string, entry: Held, listen: McpSubscription, client: Client, how: 'local' | 'graceful' | 'remote'): void {
    if (how === 'local' || entry.listen !== listen) return;
    entry.listen = undefined;
    entry.client = undefined;
    if (options.closed() || held.get(uri) !== entry) return;
    // Updates may have been missed while the stream was down.
    notify(uri);
    log.debug({ uri, how }, 'upstream ended a resource subscription stream; making it again');
    if (isLive(client)) retry(uri, entry, options.retryMs);
  }

  function retry(uri: string, entry: Held, delayMs: number): void {
    setTimeout(() => {
      if (options.closed() || held.get(uri) !== entry || isLive(entry.client) || entry.making !== undefined) return;
      ensure(uri).catch((err: unknown) => {
        log.debug({ uri, err: messageOf(err), retryInMs: Math.min(delayMs * 2, options.maxRetryMs) }, 'making a resource subscription again failed');
        retry(uri, entry, Math.min(delayMs * 2, options.maxRetryMs));
      });
    }, delayMs).unref();
  }

  async function undo(uri: string, entry: Held): Promise<void> {
    const { client, listen } = entry;
    entry.client = undefined;
    entry.listen = undefined;
    if (!isLive(client)) return;
    try {
      if (listen !== undefined) await listen.close();
      else await client?.request({ method: 'resources/unsubscribe', params: { uri } }, { timeout: options.timeoutMs });
    } catch (err: unknown) {
      log.debug({ uri, err: messageOf(err) }, 'upstream resource unsubscribe failed');
    }
  }

  /** Makes the subscription on a live session unless it is there already. */
  function ensure(uri: string): Promise<void> {
    const entry = held.get(uri);
    if (entry === undefined) return Promise.resolve();
    if (isLive(entry.client)) return Promise.resolve();
    entry.making ??= make(uri, entry).finally(() => {
      entry.making = undefined;
    });
    return entry.making;
  }

  function notify(uri: string): void {
    for (const listener of listeners) listener(uri);
  }

  return {
    async subscribe(uri) {
      if (!held.has(uri)) held.set(uri, { client: undefined, listen: undefined, making: undefined });
      try {
        await ensure(uri);
      } catch (err: unknown) {
        const entry = held.get(uri);
        if (entry !== undefined && !isLive(entry.client)) held.delete(uri);
        throw err;
      }
    },
    async unsubscribe(uri) {
      const entry = held.get(uri);
      if (entry === undefined) return;
      held.delete(uri);
      // One being made is undone when it is done (see make).
      if (entry.making === undefined) await undo(uri, entry);
    },
    restore() {
      if (options.closed()) return;
      for (const [uri, entry] of held) {
        if (isLive(entry.client) || entry.making !== undefined) continue;
        // The old session may have missed updates before it went.
        notify(uri);
        ensure(uri).catch((err: unknown) => {
          log.warn({ uri, err: messageOf(err) }, 'making a resource subscription again failed; retrying');
          retry(uri, entry, options.retryMs);
        });
      }
    },
    updated(uri) {
      if (held.has(uri)) notify(uri);
    },
    onUpdated(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
