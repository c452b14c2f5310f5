import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ErrorCode, McpbusError, messageOf, type CancelMessage, type ResultEvent, type Subjects } from '@mcpbus/protocol';
import { decodeBody, encodeJson } from './codec.js';

interface Log {
  info(data: Record<string, unknown>, message: string): void;
  warn(data: Record<string, unknown>, message: string): void;
}

/**
 * Hears the broadcast cancels (`calls.*.cancel`) and aborts the calls of `running` they name:
 * every worker and runner listens, only the one holding the call acts.
 */
export function listenForCancels(nc: NatsConnection, subjects: Subjects, running: ReadonlyMap<string, AbortController>, log: Log): Subscription {
  return nc.subscribe(subjects.callCancelAny(), {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const cancel = decodeBody<CancelMessage>(msg.data, 'CancelMessage');
        const abort = running.get(cancel.callId);
        if (abort === undefined) return;
        log.info({ callId: cancel.callId, reason: cancel.reason }, 'call cancelled by its caller');
        abort.abort(new McpbusError(ErrorCode.Cancelled, cancel.reason ?? 'cancelled by the caller'));
      } catch (failure: unknown) {
        log.warn({ err: messageOf(failure) }, 'ignored malformed cancel message');
      }
    },
  });
}

/** Announces a job's end on the call's events subject, and on the submitter's reply subject when it named one. */
export function publishCallEnd(nc: NatsConnection, subjects: Subjects, event: ResultEvent, replyTo?: string): void {
  const data = encodeJson(event);
  nc.publish(subjects.callEvents(event.callId), data);
  if (replyTo !== undefined) nc.publish(replyTo, data);
}
