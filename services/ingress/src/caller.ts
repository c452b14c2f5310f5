import type { IncomingHttpHeaders } from 'node:http';
import { keyFingerprint } from './auth.js';
import { ANONYMOUS_OWNER } from '@mcpbus/protocol';
import type { Scope } from './scope.js';

const MODERN_REVISION = '2026-07-28';

/** Who makes a request and how: what every call and task operation needs to know of it. */
export interface Caller {
  readonly scope: Scope;
  /** Fingerprint of the caller's key: jobs and tasks are bound to it and shown to no one else. */
  readonly owner: string;
  /** Speaks the 2026-07-28 revision (task shapes differ by era). */
  readonly modern: boolean;
  /**
   * Whether the end of a request (its signal aborting) means "cancel", even for a job: yes for
   * 2026 clients (a closed stream is a cancel) and legacy SSE sessions (an explicit
   * `notifications/cancelled`); no for stateless 2025 requests, where it only means the
   * connection dropped, and the job goes on with its result kept.
   */
  readonly abortCancelsJob: boolean;
  /** From an `Idempotency-Key` header. */
  readonly idempotencyKey?: string;
}

export function callerOf(headers: IncomingHttpHeaders, scope: Scope): Caller {
  const fingerprint = keyFingerprint(headers);
  const version = headers['mcp-protocol-version'];
  const key = headers['idempotency-key'];
  const modern = typeof version === 'string' && version >= MODERN_REVISION;
  const caller = { scope, owner: fingerprint === '' ? ANONYMOUS_OWNER : fingerprint, modern, abortCancelsJob: modern };
  return typeof key === 'string' && key !== '' ? { ...caller, idempotencyKey: key } : caller;
}
