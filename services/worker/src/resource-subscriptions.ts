import { decodeBody, encodeJson, type Msg, type NatsConnection, type Subscription } from '@mcpbus/bus';
import { allowsServer, type Principal } from '@mcpbus/access';
import {
  ErrorCode,
  McpbusError,
  WORKER_QUEUE,
  exposeResourceUri,
  messageOf,
  serverFromToken,
  type ResourceLeaseRequest,
  type ResourceLeaseResult,
  type ResourceSubscribeRequest,
  type ResourceSubscription,
  type ResourceUpdated,
  type Subjects,
} from '@mcpbus/protocol';
import type { ServerSessions } from '@mcpbus/upstream';
import type { Logger } from 'pino';

/** The shortest lease a worker grants, whatever the config says: holders renew at a third of it. */
const MIN_LEASE_MS = 1_000;

/** One upstream resource and the subscribers this worker holds for it. */
interface Entry {
  readonly server: string;
  readonly uri: string;
  /** The pool the upstream subscription was made on (a server changed through the admin API gets a new one). */
  pool: ServerSessions;
  readonly subscribers: Set<string>;
  /** Subscribed upstream right now. */
  upstream: boolean;
  /** Upstream subscribe and unsubscribe of this resource run one after another. */
  chain: Promise<void>;
}

interface Lease {
  readonly owner: string;
  expiresAt: number;
  readonly entry: Entry;
}

export interface ResourceSubscriptionDeps {
  nc: NatsConnection;
  subjects: Subjects;
  workerId: string;
  log: Logger;
  /** The current pool of a server, if it is configured. */
  pool(server: string): ServerSessions | undefined;
  authenticate(msg: Pick<Msg, 'headers'>): Principal;
  respond(msg: Msg, body: unknown): void;
  /** Wraps a request handler: tracing, and error replies. */
  handle(kind: string, work: (msg: Msg) => Promise<void>): (err: Error | null, msg: Msg) => void;
  /** Counts request work so a drain waits for it. */
  counted<T>(work: () => Promise<T>): Promise<T>;
  /** How long a lease lasts unless renewed (`resource_lease_ms`). */
  leaseMs: number;
}

export interface ResourceSubscriptionsHandle {
  /** The request subscriptions; a draining worker drains them with its others. */
  readonly subscriptions: readonly Subscription[];
  /** Stops sweeping leases and listening to upstream updates (the subscriptions are the caller's to drain). */
  close(): void;
}

const keyOf = (server: string, uri: string): string => `${server}\u0000${uri}`;

/**
 * A worker's side of resource subscriptions. A subscribe request (any worker, queue group)
 * becomes a lease held here; however many leases name one resource, the upstream is subscribed
 * once, and unsubscribed when the last lease is released or lapses. An update the upstream
 * sends for it is broadcast to every ingress as `ResourceUpdated`. A worker that stops takes
 * its upstream subscriptions with it: its holders find out when renewing, and subscribe again.
 */
export function startResourceSubscriptions(deps: ResourceSubscriptionDeps): ResourceSubscriptionsHandle {
  const { nc, subjects, workerId, log } = deps;
  const leaseMs = Math.max(MIN_LEASE_MS, deps.leaseMs);
  const entries = new Map<string, Entry>();
  const leases = new Map<string, Lease>();
  const hooked = new Map<ServerSessions, () => void>();

  function publishUpdate(server: string, uri: string): void {
    const entry = entries.get(keyOf(server, uri));
    if (entry === undefined || entry.subscribers.size === 0) return;
    const update: ResourceUpdated = { v: 1, server, uri: exposeResourceUri(server, uri) };
    nc.publish(subjects.resourcesUpdated(), encodeJson(update));
  }

  function hook(pool: ServerSessions): void {
    if (!hooked.has(pool)) hooked.set(pool, pool.onResourceUpdated((uri) => publishUpdate(pool.server.name, uri)));
  }

  /** Brings the upstream in line with the leases: subscribed while any is held, on the server's current pool. */
  async function step(entry: Entry): Promise<void> {
    const pool = deps.pool(entry.server);
    if (entry.upstream && (entry.subscribers.size === 0 || entry.pool !== pool)) {
      entry.upstream = false;
      await entry.pool.unsubscribeResource(entry.uri).catch((err: unknown) => log.debug({ server: entry.server, err: messageOf(err) }, 'upstream resource unsubscribe failed'));
    }
    if (entry.subscribers.size === 0) {
      if (entries.get(keyOf(entry.server, entry.uri)) === entry) entries.delete(keyOf(entry.server, entry.uri));
      return;
    }
    if (entry.upstream) return;
    if (pool === undefined) {
      for (const subscriber of entry.subscribers) leases.delete(subscriber);
      entry.subscribers.clear();
      entries.delete(keyOf(entry.server, entry.uri));
      throw new McpbusError(ErrorCode.UnknownServer, `No server "${entry.server}" is configured`);
    }
    entry.pool = pool;
    hook(pool);
    await pool.subscribeResource(entry.uri);
    entry.upstream = true;
  }

  function reconcile(entry: Entry): Promise<void> {
    const next = entry.chain.catch(() => undefined).then(() => step(entry));
    entry.chain = next;
    return next;
  }

  function drop(subscriber: string): Entry | undefined {
    const lease = leases.get(subscriber);
    if (lease === undefined) return undefined;
    leases.delete(subscriber);
    lease.entry.subscribers.delete(subscriber);
    return lease.entry;
  }

  const settle = (entry: Entry): void => {
    reconcile(entry).catch((err: unknown) => log.warn({ server: entry.server, err: messageOf(err) }, 'resource subscription could not be brought up to date'));
  };

  async function onSubscribe(msg: Msg): Promise<void> {
    const principal = deps.authenticate(msg);
    const req = decodeBody<ResourceSubscribeRequest>(msg.data, 'ResourceSubscribeRequest');
    if (req.deadlineAt <= Date.now()) throw new McpbusError(ErrorCode.Timeout, 'the resource subscription reached its deadline before a worker could take it');
    if (!allowsServer(principal.access, req.server)) throw new McpbusError(ErrorCode.NotPermitted, `Server "${req.server}" is not permitted for this key`);
    const pool = deps.pool(req.server);
    if (pool === undefined || serverFromToken(msg.subject.split('.').at(-1) ?? '') !== req.server) throw new McpbusError(ErrorCode.UnknownServer, `No server "${req.server}" is configured`);
    const held = leases.get(req.subscriber);
    if (held !== undefined && (held.owner !== principal.owner || held.entry.server !== req.server || held.entry.uri !== req.uri))
      throw new McpbusError(ErrorCode.InvalidParams, `subscriber ${req.subscriber} already holds another subscription; name each one differently`);
    const key = keyOf(req.server, req.uri);
    let entry = entries.get(key);
    if (entry === undefined) {
      entry = { server: req.server, uri: req.uri, pool, subscribers: new Set(), upstream: false, chain: Promise.resolve() };
      entries.set(key, entry);
    }
    // The lease runs from the answer: subscribing upstream may take longer than a lease (a stdio
    // child being spawned), and the holder renews only once it has been answered.
    const lease: Lease = { owner: principal.owner, expiresAt: Number.POSITIVE_INFINITY, entry };
    leases.set(req.subscriber, lease);
    entry.subscribers.add(req.subscriber);
    try {
      await deps.counted(() => reconcile(entry));
    } catch (err: unknown) {
      // Not subscribed: the holder asks again (a renewal finds it unknown).
      if (leases.get(req.subscriber) === lease) drop(req.subscriber);
      settle(entry);
      throw err;
    }
    lease.expiresAt = Date.now() + leaseMs;
    const result: ResourceSubscription = { workerId, leaseMs };
    deps.respond(msg, { ok: true, result });
  }

  function onLeases(msg: Msg): Promise<void> {
    // Nothing here waits on the upstream: releases unsubscribe it in the background.
    return Promise.resolve().then(() => {
      const owner = deps.authenticate(msg).owner;
      const req = decodeBody<ResourceLeaseRequest>(msg.data, 'ResourceLeaseRequest');
      if (req.deadlineAt <= Date.now()) throw new McpbusError(ErrorCode.Timeout, 'the lease request reached its deadline before the worker could take it');
      const unknown: string[] = [];
      const released = new Set<Entry>();
      for (const subscriber of req.subscribers) {
        const lease = leases.get(subscriber);
        // Another key's subscriber is neither renewed nor released, and looks like an unknown one.
        if (lease === undefined || lease.owner !== owner) unknown.push(subscriber);
        else if (req.op === 'renew') lease.expiresAt = Date.now() + leaseMs;
        else {
          released.add(lease.entry);
          drop(subscriber);
        }
      }
      for (const entry of released) settle(entry);
      const result: ResourceLeaseResult = { unknown };
      deps.respond(msg, { ok: true, result });
    });
  }

  /** Lapsed leases go; subscriptions whose server was replaced move to its new pool (or go with it). */
  function sweep(): void {
    const now = Date.now();
    const touched = new Set<Entry>();
    for (const [subscriber, lease] of leases) {
      if (lease.expiresAt > now) continue;
      touched.add(lease.entry);
      drop(subscriber);
    }
    for (const entry of entries.values()) if (entry.pool !== deps.pool(entry.server)) touched.add(entry);
    for (const entry of touched) settle(entry);
    for (const [pool, unhook] of hooked) {
      if (deps.pool(pool.server.name) === pool) continue;
      if ([...entries.values()].some((e) => e.pool === pool)) continue;
      unhook();
      hooked.delete(pool);
    }
  }

  const subs: Subscription[] = [
    nc.subscribe(subjects.resourcesSubscribeAny(), { queue: WORKER_QUEUE, callback: deps.handle('resources/subscribe', onSubscribe) }),
    nc.subscribe(subjects.resourceLeases(workerId), { callback: deps.handle('resource leases', onLeases) }),
  ];
  const timer = setInterval(sweep, Math.max(250, Math.floor(leaseMs / 4)));
  timer.unref();

  return {
    subscriptions: subs,
    close() {
      clearInterval(timer);
      for (const unhook of hooked.values()) unhook();
      hooked.clear();
    },
  };
}
