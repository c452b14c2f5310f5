import { randomUUID } from 'node:crypto';
import { apiKeyHeaders, busRequest, type NatsConnection } from '@mcpbus/bus';
import {
  ErrorCode,
  McpbusError,
  messageOf,
  type ResourceLeaseRequest,
  type ResourceLeaseResult,
  type ResourceSubscribeRequest,
  type ResourceSubscription,
  type Subjects,
} from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { Credential } from './caller.js';

/** Deadline of a renewal or release: they touch worker memory only. */
const LEASE_REQUEST_MS = 5_000;
/** Subscribers per renewal request (the body's schema allows 1000). */
const RENEW_BATCH = 500;

/** One client's subscription to one upstream resource, held on a worker until released. */
export interface ResourceLease {
  release(): Promise<void>;
}

export interface ResourceLeases {
  /**
   * Subscribes over the bus (the answering worker subscribes upstream, or joins the
   * subscription it has) and keeps the lease renewed until it is released. Rejects with the
   * worker's error (unknown server, not permitted, an upstream without subscriptions, …).
   */
  hold(who: Credential, server: string, uri: string, timeoutMs: number): Promise<ResourceLease>;
  /** Releases every lease and stops renewing. */
  close(): Promise<void>;
}

interface Held {
  readonly subscriber: string;
  readonly who: Credential;
  readonly server: string;
  readonly uri: string;
  workerId: string;
  leaseMs: number;
  released: boolean;
  /** Making it again failed last time (told once at warn level, not at every renewal). */
  failing: boolean;
}

/**
 * The leases this ingress holds on workers for its clients' resource subscriptions. Every third
 * of a lease they are renewed on the worker holding them; a worker that is gone (no responders)
 * or no longer knows one (it restarted) loses them to another worker, which subscribes upstream
 * again. Updates missed while that happens are not replayed.
 */
export function createResourceLeases(nc: NatsConnection, subjects: Subjects, log: Logger): ResourceLeases {
  const held = new Map<string, Held>();
  let timer: NodeJS.Timeout | undefined;
  let renewing = false;

  const headersOf = (who: Credential) => {
    const headers = apiKeyHeaders(who.key);
    return headers === undefined ? {} : { headers };
  };

  async function subscribe(lease: Held, timeoutMs: number): Promise<void> {
    const body: ResourceSubscribeRequest = { v: 1, server: lease.server, uri: lease.uri, subscriber: lease.subscriber, deadlineAt: Date.now() + timeoutMs };
    const reply = await busRequest<ResourceSubscription>(nc, subjects.resourcesSubscribe(lease.server), body, { timeoutMs: timeoutMs + 1_000, what: `a subscription to ${lease.uri}`, ...headersOf(lease.who) });
    lease.workerId = reply.result.workerId;
    lease.leaseMs = reply.result.leaseMs;
  }

  async function leaseRequest(workerId: string, who: Credential, op: ResourceLeaseRequest['op'], subscribers: string[]): Promise<string[]> {
    const body: ResourceLeaseRequest = { v: 1, op, subscribers, deadlineAt: Date.now() + LEASE_REQUEST_MS };
    const reply = await busRequest<ResourceLeaseResult>(nc, subjects.resourceLeases(workerId), body, { timeoutMs: LEASE_REQUEST_MS, what: `resource leases (${op})`, ...headersOf(who) });
    return reply.result.unknown;
  }

  /** Subscribes again through any worker; a lease released meanwhile is released there too. */
  async function resubscribe(lease: Held): Promise<void> {
    try {
      await subscribe(lease, LEASE_REQUEST_MS);
      lease.failing = false;
      if (lease.released) await leaseRequest(lease.workerId, lease.who, 'release', [lease.subscriber]).catch(() => undefined);
    } catch (err: unknown) {
      // Tried again at the next renewal: the server may come back, the key may be allowed again.
      log[lease.failing ? 'debug' : 'warn']({ server: lease.server, err: messageOf(err) }, 'a resource subscription could not be made again; retrying at each renewal');
      lease.failing = true;
    }
  }

  async function renewGroup(workerId: string, group: Held[]): Promise<void> {
    const who = (group[0] as Held).who;
    let unknown: string[];
    try {
      unknown = await leaseRequest(workerId, who, 'renew', group.map((l) => l.subscriber));
    } catch (err: unknown) {
      // The worker is gone: its upstream subscriptions went with it.
      if (err instanceof McpbusError && err.code === ErrorCode.NoWorkers) unknown = group.map((l) => l.subscriber);
      else {
        log.debug({ workerId, err: messageOf(err) }, 'renewing resource leases failed; trying again later');
        return;
      }
    }
    await Promise.all(unknown.map((subscriber) => held.get(subscriber)).filter((l): l is Held => l !== undefined).map(resubscribe));
  }

  async function renewAll(): Promise<void> {
    if (renewing) return;
    renewing = true;
    try {
      const groups = new Map<string, Held[]>();
      for (const lease of held.values()) {
        const id = `${lease.workerId}\u0000${lease.who.key ?? ''}`;
        const group = groups.get(id) ?? [];
        if (group.length === 0) groups.set(id, group);
        group.push(lease);
      }
      const batches: Promise<void>[] = [];
      for (const group of groups.values()) {
        const workerId = (group[0] as Held).workerId;
        for (let i = 0; i < group.length; i += RENEW_BATCH) batches.push(renewGroup(workerId, group.slice(i, i + RENEW_BATCH)));
      }
      await Promise.all(batches);
    } finally {
      renewing = false;
    }
  }

  /** Renewals run while any lease is held, at a third of the shortest lease. */
  function arm(): void {
    if (held.size === 0) {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      return;
    }
    if (timer !== undefined) return;
    const everyMs = Math.max(250, Math.floor(Math.min(...[...held.values()].map((l) => l.leaseMs)) / 3));
    timer = setInterval(() => void renewAll(), everyMs);
    timer.unref();
  }

  async function release(lease: Held): Promise<void> {
    if (lease.released) return;
    lease.released = true;
    held.delete(lease.subscriber);
    arm();
    // A worker that is gone or has forgotten it has nothing to release; a lost release lapses.
    await leaseRequest(lease.workerId, lease.who, 'release', [lease.subscriber]).catch(() => undefined);
  }

  return {
    async hold(who, server, uri, timeoutMs) {
      const lease: Held = { subscriber: randomUUID(), who, server, uri, workerId: '', leaseMs: 0, released: false, failing: false };
      await subscribe(lease, timeoutMs);
      held.set(lease.subscriber, lease);
      arm();
      return { release: () => release(lease) };
    },
    async close() {
      const all = [...held.values()];
      await Promise.allSettled(all.map(release));
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
