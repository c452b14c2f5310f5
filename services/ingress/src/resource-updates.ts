import { AsyncLocalStorage } from 'node:async_hooks';
import type { ServerResponse } from 'node:http';
import type { ServerEvent, ServerEventBus } from '@modelcontextprotocol/server';
import { decodeBody, type NatsConnection } from '@mcpbus/bus';
import { ErrorCode, McpbusError, jsonRpcCodeOf, messageOf, parseResourceUri, type ResourceUpdated, type Subjects } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { Caller, Credential } from './caller.js';
import { createCoalescer } from './coalesce.js';
import { sendJson } from './http-replies.js';
import { isJsonObject } from './json-object.js';
import type { ServerLookup } from './relay-call.js';
import { createResourceLeases, type ResourceLease } from './resource-leases.js';
import { resourceOf, type ResourceRef } from './resource-owner.js';

/** Updates of one resource heard within this long are told once: several workers may hold it. */
const COALESCE_MS = 50;
/** How many resources one client connection (or one subscriptions/listen stream) may subscribe to. */
export const MAX_SUBSCRIPTIONS_PER_CLIENT = 256;

/** A subscribed resource changed upstream. */
export interface ResourceUpdate {
  server: string;
  /** The namespaced URI (`mcpbus://<server>/<upstream uri>`). */
  uri: string;
  /** The upstream's own URI (what single-server routes show). */
  upstreamUri: string;
}

/** The resource subscriptions of one client connection; updates go to the function it was made with. */
export interface ResourceSubscriptionSet {
  /** Subscribes (idempotent per client URI); resolves once the upstream subscription is in place. */
  add(ref: ResourceRef, clientUri: string): Promise<void>;
  /** Unsubscribes; unknown URIs are ignored. */
  remove(clientUri: string): Promise<void>;
  /** Unsubscribes everything; for when the connection ends. */
  close(): Promise<void>;
}

export interface ResourceUpdates {
  /**
   * Every `ResourceUpdated` broadcast this replica hears (updates of one resource within 50 ms
   * told once). For connections that keep their subscriptions elsewhere, such as 2025
   * Streamable HTTP sessions. Returns the function that stops listening.
   */
  onResourceUpdated(listener: (update: ResourceUpdate) => void): () => void;
  /**
   * The subscriptions of one client connection: each a lease on a worker (kept while the
   * connection lives), and `deliver(clientUri)` called for each update of one of them.
   */
  subscriptionsFor(who: Credential, deliver: (clientUri: string) => void): ResourceSubscriptionSet;
  /** The bus `createMcpHandler` serves subscriptions/listen streams from: list changes for all, resource updates per stream. */
  readonly listenBus: ServerEventBus;
  /**
   * Serves a 2026 client's `subscriptions/listen` request through `serve` (the SDK handler),
   * after subscribing to the resources its filter names; refuses it (in-band JSON-RPC error)
   * when one of them is unknown, not permitted or cannot be subscribed to upstream. The
   * subscriptions last as long as the stream.
   */
  serveListen(caller: Caller, body: Record<string, unknown>, res: ServerResponse, serve: () => Promise<void>): Promise<void>;
  /** Stops listening and releases every subscription still held. */
  close(): Promise<void>;
}

export interface ResourceUpdatesDeps {
  nc: NatsConnection;
  subjects: Subjects;
  servers: ServerLookup;
  /** How long a subscription may take (the server's timeout). */
  timeoutMsOf(server: string): number;
  log: Logger;
}

/** A 2026 `subscriptions/listen` request (the SDK handler serves it; its resource subscriptions are ours). */
export function isListenRequest(body: unknown): body is Record<string, unknown> {
  return isJsonObject(body) && body['method'] === 'subscriptions/listen' && body['id'] !== undefined;
}

/** One resource a connection subscribed to: its lease, once the worker has answered. */
interface Subscribed {
  readonly key: string;
  lease: ResourceLease | undefined;
  making: Promise<void>;
}

/** One subscriptions/listen stream: where the SDK's listener for it goes once it subscribes. */
interface ListenStream {
  listener: ((event: ServerEvent) => void) | undefined;
}

const keyOf = (server: string, uri: string): string => `${server}\u0000${uri}`;

/**
 * Resource subscriptions on the ingress side: leases held on workers for this replica's clients
 * (legacy SSE sessions, 2026 listen streams, and whatever else asks through `subscriptionsFor`),
 * and the `ResourceUpdated` broadcasts fanned out to the clients subscribed to each resource.
 */
export function startResourceUpdates(deps: ResourceUpdatesDeps): ResourceUpdates {
  const { nc, subjects, log } = deps;
  const leases = createResourceLeases(nc, subjects, log);
  const listeners = new Set<(update: ResourceUpdate) => void>();
  const pending = createCoalescer(COALESCE_MS);
  const streamOfRequest = new AsyncLocalStorage<ListenStream>();
  const streamListeners = new Set<(event: ServerEvent) => void>();

  /** Calls every listener; one that throws does not keep the others from hearing it. */
  function each<T>(targets: Iterable<(value: T) => void>, value: T): void {
    for (const target of [...targets]) {
      try {
        target(value);
      } catch (err: unknown) {
        log.warn({ err: messageOf(err) }, 'a resource update listener failed');
      }
    }
  }

  const sub = nc.subscribe(subjects.resourcesUpdated(), {
    callback: (err, msg) => {
      if (err !== null) return;
      let body: ResourceUpdated;
      try {
        body = decodeBody<ResourceUpdated>(msg.data, 'ResourceUpdated');
      } catch {
        return;
      }
      const parsed = parseResourceUri(body.uri);
      if (parsed === undefined || parsed.server !== body.server) return;
      pending.soon(keyOf(body.server, parsed.uri), () => each(listeners, { server: body.server, uri: body.uri, upstreamUri: parsed.uri }));
    },
  });

  function onResourceUpdated(listener: (update: ResourceUpdate) => void): () => void {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }

  function subscriptionsFor(who: Credential, deliver: (clientUri: string) => void): ResourceSubscriptionSet {
    const held = new Map<string, Subscribed>();
    let closed = false;
    const stop = onResourceUpdated((update) => {
      const key = keyOf(update.server, update.upstreamUri);
      for (const [clientUri, entry] of held) if (entry.key === key && entry.lease !== undefined) deliver(clientUri);
    });
    const remove = async (clientUri: string): Promise<void> => {
      const entry = held.get(clientUri);
      if (entry === undefined) return;
      held.delete(clientUri);
      // One still being made is released when it is made.
      if (entry.lease !== undefined) await entry.lease.release();
    };
    return {
      async add(ref, clientUri) {
        if (closed) throw new McpbusError(ErrorCode.BadRequest, 'The connection is closing');
        const existing = held.get(clientUri);
        if (existing !== undefined) return existing.making;
        if (held.size >= MAX_SUBSCRIPTIONS_PER_CLIENT) throw new McpbusError(ErrorCode.InvalidParams, `A connection may subscribe to at most ${MAX_SUBSCRIPTIONS_PER_CLIENT} resources`);
        const entry: Subscribed = { key: keyOf(ref.server, ref.upstreamUri), lease: undefined, making: Promise.resolve() };
        entry.making = leases.hold(who, ref.server, ref.upstreamUri, deps.timeoutMsOf(ref.server)).then(
          async (lease) => {
            if (held.get(clientUri) === entry) entry.lease = lease;
            else await lease.release();
          },
          (err: unknown) => {
            if (held.get(clientUri) === entry) held.delete(clientUri);
            throw err;
          },
        );
        held.set(clientUri, entry);
        return entry.making;
      },
      remove,
      async close() {
        closed = true;
        stop();
        await Promise.allSettled([...held.keys()].map(remove));
      },
    };
  }

  // List changes go to every stream; a resource update only to the stream that subscribed to it
  // (see serveListen), never to all of them: a URI is no proof of access to it.
  const listenBus: ServerEventBus = {
    publish(event) {
      if (event.kind !== 'resource_updated') each(streamListeners, event);
    },
    subscribe(listener) {
      streamListeners.add(listener);
      // The SDK subscribes while serving the listen request, inside serveListen's scope.
      const stream = streamOfRequest.getStore();
      if (stream !== undefined) stream.listener = listener;
      return () => {
        streamListeners.delete(listener);
        if (stream?.listener === listener) stream.listener = undefined;
      };
    },
  };

  function refuse(res: ServerResponse, id: unknown, err: unknown): void {
    const error = err instanceof McpbusError ? err : new McpbusError(ErrorCode.Internal, 'Internal error');
    if (!(err instanceof McpbusError)) log.error({ err: messageOf(err) }, 'subscriptions/listen failed unexpectedly');
    sendJson(res, 200, { jsonrpc: '2.0', id, error: { code: jsonRpcCodeOf(error), message: error.message } });
  }

  async function serveListen(caller: Caller, body: Record<string, unknown>, res: ServerResponse, serve: () => Promise<void>): Promise<void> {
    const params = isJsonObject(body['params']) ? body['params'] : {};
    const filter = isJsonObject(params['notifications']) ? params['notifications'] : {};
    const requested = filter['resourceSubscriptions'];
    // Nothing to subscribe to, or a filter the SDK refuses anyway.
    if (!Array.isArray(requested) || requested.length === 0 || !requested.every((u): u is string => typeof u === 'string')) return serve();
    const uris = [...new Set(requested)];
    const stream: ListenStream = { listener: undefined };
    const subscriptions = subscriptionsFor(caller, (uri) => {
      if (stream.listener !== undefined) each([stream.listener], { kind: 'resource_updated', uri });
    });
    // The subscriptions last as long as the stream (or the request, if it ends sooner).
    let gone = false;
    res.once('close', () => {
      gone = true;
      void subscriptions.close();
    });
    try {
      if (uris.length > MAX_SUBSCRIPTIONS_PER_CLIENT) throw new McpbusError(ErrorCode.InvalidParams, `A subscriptions/listen stream may name at most ${MAX_SUBSCRIPTIONS_PER_CLIENT} resources`);
      const refs = uris.map((uri) => ({ uri, ref: resourceOf(uri, caller, deps.servers) }));
      await Promise.all(refs.map(({ uri, ref }) => subscriptions.add(ref, uri)));
    } catch (err: unknown) {
      await subscriptions.close();
      return refuse(res, body['id'], err);
    }
    if (gone) return;
    return streamOfRequest.run(stream, serve);
  }

  return {
    onResourceUpdated,
    subscriptionsFor,
    listenBus,
    serveListen,
    async close() {
      sub.unsubscribe();
      pending.close();
      await leases.close();
    },
  };
}
