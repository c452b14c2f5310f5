import type { NatsConnection } from '@nats-io/transport-node';
import type { CallAudit, Subjects } from '@mcpbus/protocol';
import { encodeJson } from './codec.js';

interface InfoLog {
  info(data: Record<string, unknown>, message: string): void;
}

/**
 * Records one tool call in the audit trail: published on `audit.calls` for whoever keeps it,
 * and logged. The record holds the caller's key fingerprint, never the key; arguments only
 * when the deployment opted in.
 */
export function recordCall(nc: NatsConnection, subjects: Subjects, log: InfoLog, call: Omit<CallAudit, 'v' | 'at'>): void {
  const record: CallAudit = { v: 1, at: new Date().toISOString(), ...call };
  try {
    nc.publish(subjects.auditCalls(), encodeJson(record));
  } catch {
    // The call is done either way; the log line below still records it.
  }
  const { arguments: _args, v: _v, ...logged } = record;
  log.info({ audit: logged }, 'tool call');
}
