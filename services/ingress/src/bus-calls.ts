import { randomUUID } from 'node:crypto';
import { busRequest, decodeBody, encodeJson, type NatsConnection } from '@mcpbus/bus';
import type { McpbusConfig } from '@mcpbus/config';
import {
  ErrorCode,
  McpbusError,
  createSubjects,
  type CallToolRequest,
  type CancelMessage,
  type ItemKind,
  type ListItemsRequest,
  type ListItemsResult,
  type ListToolsRequest,
  type ListToolsResult,
  type ProgressEvent,
  type ServerRpcMethod,
  type ServerRpcRequest,
} from '@mcpbus/protocol';

/** Extra time the ingress waits beyond a call's deadline for the worker's own timeout reply. */
const REPLY_GRACE_MS = 1_000;
/** How long a reply waits for progress events it was told about but has not seen yet. */
const EVENT_CATCH_UP_MS = 1_000;

export interface ProgressUpdate {
  progress: number;
  total?: number;
  message?: string;
}

export interface CallOptions {
  server: string;
  name: string;
  /** `name` is the upstream tool name (single-server routes). */
  byUpstreamName?: boolean;
  arguments: Record<string, unknown> | undefined;
  timeoutMs: number;
  /** Receives every progress update in order, before the call resolves. */
  onProgress?: (update: ProgressUpdate) => Promise<void> | void;
  signal?: AbortSignal;
}

export interface BusCalls {
  listTools(servers?: readonly string[]): Promise<ListToolsResult>;
  listItems(kind: ItemKind, servers?: readonly string[]): Promise<ListItemsResult>;
  serverRpc(server: string, method: ServerRpcMethod, params: Record<string, unknown>, byUpstreamName: boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  callTool(options: CallOptions): Promise<Record<string, unknown>>;
  pingWorkers(timeoutMs: number): Promise<boolean>;
}

/**
 * The ingress side of the bus: turns list and call requests into NATS requests, relays the
 * call's progress events in sequence order, and broadcasts a cancel when the caller goes away.
 */
export function createBusCalls(nc: NatsConnection, config: McpbusConfig): BusCalls {
  const subjects = createSubjects(config.settings.subjectRoot);

  async function callTool(options: CallOptions): Promise<Record<string, unknown>> {
    const callId = randomUUID().replace(/-/g, '');
    const deadlineAt = Date.now() + options.timeoutMs;
    const body: CallToolRequest = { v: 1, callId, server: options.server, name: options.name, progress: options.onProgress !== undefined, deadlineAt };
    if (options.arguments !== undefined) body.arguments = options.arguments;
    if (options.byUpstreamName === true) body.byUpstreamName = true;

    // Checked before anything is subscribed, so a refused call leaves nothing behind.
    if (options.signal?.aborted === true) throw new McpbusError(ErrorCode.Cancelled, 'the client cancelled the request');
    const relay = options.onProgress === undefined ? undefined : createProgressRelay(options.onProgress);
    const sub = relay === undefined ? undefined : nc.subscribe(subjects.callEvents(callId), {
      callback: (err, msg) => {
        if (err === null) relay.accept(msg.data);
      },
    });
    const onAbort = (): void => {
      const cancel: CancelMessage = { v: 1, callId, reason: 'the client cancelled the request' };
      nc.publish(subjects.callCancel(callId), encodeJson(cancel));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await busRequest<Record<string, unknown>>(nc, subjects.toolsCall(options.server), body, {
        timeoutMs: options.timeoutMs + REPLY_GRACE_MS,
        what: `the call of ${options.name}`,
      });
      if (relay !== undefined) await relay.settle(reply.events ?? 0);
      return reply.result;
    } catch (err: unknown) {
      if (err instanceof McpbusError && err.code === ErrorCode.Timeout) onAbort();
      throw err;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      sub?.unsubscribe();
    }
  }

  return {
    async listTools(servers) {
      const timeoutMs = config.settings.listDeadlineMs + REPLY_GRACE_MS;
      const body: ListToolsRequest = { v: 1, deadlineAt: Date.now() + config.settings.listDeadlineMs };
      if (servers !== undefined) body.servers = [...servers];
      const reply = await busRequest<ListToolsResult>(nc, subjects.toolsList(), body, { timeoutMs, what: 'tools/list' });
      return reply.result;
    },
    callTool,
    async listItems(kind, servers) {
      const body: ListItemsRequest = { v: 1, kind, deadlineAt: Date.now() + config.settings.listDeadlineMs };
      if (servers !== undefined) body.servers = [...servers];
      const reply = await busRequest<ListItemsResult>(nc, subjects.itemsList(), body, { timeoutMs: config.settings.listDeadlineMs + REPLY_GRACE_MS, what: `the ${kind} list` });
      return reply.result;
    },
    async serverRpc(server, method, params, byUpstreamName, timeoutMs) {
      const body: ServerRpcRequest = { v: 1, server, method, params, deadlineAt: Date.now() + timeoutMs };
      if (byUpstreamName) body.byUpstreamName = true;
      const reply = await busRequest<Record<string, unknown>>(nc, subjects.serverRpc(server), body, { timeoutMs: timeoutMs + REPLY_GRACE_MS, what: method });
      return reply.result;
    },
    async pingWorkers(timeoutMs) {
      try {
        await busRequest(nc, subjects.workersPing(), { v: 1 }, { timeoutMs, what: 'worker ping' });
        return true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Delivers progress events strictly in `seq` order, one at a time, and lets the caller wait
 * until a given number of them has been delivered: the reply says how many were published,
 * so none is dropped or overtaken by the result.
 */
function createProgressRelay(deliver: (update: ProgressUpdate) => Promise<void> | void) {
  const early = new Map<number, ProgressEvent>();
  let nextSeq = 1;
  let chain: Promise<void> = Promise.resolve();
  let waiter: { target: number; resolve: () => void } | undefined;

  const flush = (): void => {
    for (let event = early.get(nextSeq); event !== undefined; event = early.get(nextSeq)) {
      early.delete(nextSeq);
      nextSeq += 1;
      const update: ProgressUpdate = { progress: event.progress };
      if (event.total !== undefined) update.total = event.total;
      if (event.message !== undefined) update.message = event.message;
      chain = chain.then(() => deliver(update)).catch(() => undefined);
    }
    if (waiter !== undefined && nextSeq > waiter.target) waiter.resolve();
  };

  return {
    accept(data: Uint8Array): void {
      try {
        const event = decodeBody<ProgressEvent>(data, 'ProgressEvent');
        if (event.seq >= nextSeq) early.set(event.seq, event);
        flush();
      } catch {
        // A malformed event is dropped; the result still arrives.
      }
    },
    async settle(expected: number): Promise<void> {
      if (nextSeq <= expected) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, EVENT_CATCH_UP_MS);
          waiter = {
            target: expected,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          };
        });
      }
      // An event lost on the way must not hold back the ones after it: deliver what arrived.
      for (const seq of [...early.keys()].sort((a, b) => a - b)) {
        nextSeq = seq;
        flush();
      }
      await chain;
    },
  };
}
