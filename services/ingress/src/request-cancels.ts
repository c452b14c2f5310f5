import { apiKeyHeaders, apiKeyOf, decodeBody, encodeJson, type NatsConnection } from '@mcpbus/bus';
import { messageOf, ownerOfKey, type RequestCancelled, type Subjects } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { Credential } from './caller.js';

/**
 * How long after its client went away a waiting job call still answers to that client's
 * `notifications/cancelled`: a stateless client drops the connection and sends the notification
 * at the same moment, and either may arrive first.
 */
const LINGER_MS = 10_000;

export interface RequestCancels {
  /**
   * A blocking job call for the caller's JSON-RPC request `requestId` (in its session, if it has
   * one) waits on task `taskId`. Call the returned function when the wait ends, saying whether
   * the client went away.
   */
  track(who: Credential, sessionId: string | undefined, requestId: string | number, taskId: string): (clientGone: boolean) => void;
  /**
   * A call streamed to a 2025 session (it outlives its client's connection, which may resume it)
   * ends when its client cancels the request. Call the returned function when the call ends.
   */
  watch(who: Credential, sessionId: string, requestId: string | number, onCancel: (reason: string) => void): () => void;
  /** A 2025-era client cancelled one of its requests: tell every replica. */
  broadcast(who: Credential, sessionId: string | undefined, requestId: unknown, reason: unknown): void;
  close(): void;
}

const keyOf = (owner: string, sessionId: string | undefined, requestId: string | number): string => `${owner}\u0000${sessionId ?? ''}\u0000${JSON.stringify(requestId)}`;

/**
 * Makes 2025-era `notifications/cancelled` cancel job calls and streamed session calls. Clients without a session are told
 * apart only by their key, so a cancel names (owner, session, request id): it reaches the job
 * call of that request on whichever replica it waits. The owner comes from the key the
 * broadcast carries, so nothing on the bus can cancel another key's calls. A dropped connection
 * alone does not cancel a job; the notification does.
 */
export function createRequestCancels(nc: NatsConnection, subjects: Subjects, cancelTask: (who: Credential, taskId: string, reason: string) => Promise<unknown>, log: Logger): RequestCancels {
  // Per (owner, session, request id): what its cancel stops.
  const waiting = new Map<string, Set<(reason: string) => void>>();
  const sub = nc.subscribe(subjects.requestCancelled(), {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const cancel = decodeBody<RequestCancelled>(msg.data, 'RequestCancelled');
        const owner = ownerOfKey(apiKeyOf(msg));
        for (const stop of waiting.get(keyOf(owner, cancel.sessionId, cancel.requestId)) ?? []) stop(cancel.reason ?? 'the client cancelled the request');
      } catch (failure: unknown) {
        log.warn({ err: messageOf(failure) }, 'ignored malformed request cancel');
      }
    },
  });
  const listen = (key: string, stop: (reason: string) => void): (() => void) => {
    const listeners = waiting.get(key) ?? new Set();
    listeners.add(stop);
    waiting.set(key, listeners);
    return () => {
      listeners.delete(stop);
      if (listeners.size === 0 && waiting.get(key) === listeners) waiting.delete(key);
    };
  };
  return {
    track(who, sessionId, requestId, taskId) {
      const forget = listen(keyOf(who.owner, sessionId, requestId), (reason) => {
        log.info({ taskId }, 'job cancelled by its client (notifications/cancelled)');
        void cancelTask(who, taskId, reason).catch(() => undefined);
      });
      return (clientGone) => {
        if (clientGone) setTimeout(forget, LINGER_MS).unref();
        else forget();
      };
    },
    watch(who, sessionId, requestId, onCancel) {
      return listen(keyOf(who.owner, sessionId, requestId), onCancel);
    },
    broadcast(who, sessionId, requestId, reason) {
      if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
      const cancel: RequestCancelled = { v: 1, requestId };
      if (sessionId !== undefined) cancel.sessionId = sessionId.slice(0, 256);
      if (typeof reason === 'string') cancel.reason = reason.slice(0, 1000);
      const headers = apiKeyHeaders(who.key);
      nc.publish(subjects.requestCancelled(), encodeJson(cancel), headers === undefined ? undefined : { headers });
    },
    close() {
      sub.unsubscribe();
      waiting.clear();
    },
  };
}
