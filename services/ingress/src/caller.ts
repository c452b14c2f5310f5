import type { IncomingHttpHeaders } from 'node:http';
import { FULL_ACCESS, type Access } from '@mcpbus/access';
import { ownerOfKey } from '@mcpbus/protocol';
import { presentedKey } from './auth.js';
import type { Scope } from './scope.js';
import { clientCredentialHeaders } from './upstream-credentials.js';

const MODERN_REVISION = '2026-07-28';

/** Who is asking, as the bus needs to know: the key goes to the workers, which check it and derive the owner. */
export interface Credential {
  /** Fingerprint of the key (`anonymous` without one): jobs and tasks are bound to it. */
  readonly owner: string;
  /** The key the caller presented, carried on the bus in the Mcpbus-Api-Key header. */
  readonly key?: string;
  /** What the key may use; workers check it again, since the bus is a way in of its own. */
  readonly access: Access;
}

/** Who makes a request and how: what every call and task operation needs to know of it. */
export interface Caller extends Credential {
  readonly scope: Scope;
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
  /** The client's `Mcp-Session-Id`, if it sent one (it narrows which request a cancel names). */
  readonly sessionId?: string;
  /** The connection can carry requests to the client (a legacy SSE session), so upstreams may ask it for input. */
  readonly pushesToClient?: boolean;
  /** `x-mcp-*` headers that may carry upstream credentials (see upstream-credentials.ts). */
  readonly clientHeaders?: Readonly<Record<string, string>>;
}

/** A legacy SSE session's caller: its key, and the credential headers of the request that opened it. */
export type SessionCredential = Credential & { readonly clientHeaders?: Readonly<Record<string, string>> };

/** The credential of a presented key (or of none), with the access the key was found to have. */
export function credentialOf(key: string | undefined, access: Access = FULL_ACCESS): Credential {
  return key === undefined ? { owner: ownerOfKey(undefined), access } : { owner: ownerOfKey(key), key, access };
}

export function callerOf(headers: IncomingHttpHeaders, scope: Scope, access: Access = FULL_ACCESS): Caller {
  const version = headers['mcp-protocol-version'];
  const idempotencyKey = headers['idempotency-key'];
  const modern = typeof version === 'string' && version >= MODERN_REVISION;
  const session = headers['mcp-session-id'];
  const caller = {
    ...credentialOf(presentedKey(headers), access),
    scope,
    modern,
    abortCancelsJob: modern,
    ...(typeof session === 'string' && session !== '' ? { sessionId: session } : {}),
    clientHeaders: clientCredentialHeaders(headers),
  };
  return typeof idempotencyKey === 'string' && idempotencyKey !== '' ? { ...caller, idempotencyKey } : caller;
}
