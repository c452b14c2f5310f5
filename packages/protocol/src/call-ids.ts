import { createHash, randomUUID } from 'node:crypto';

/** A fresh call id: 32 hex characters, fit for a NATS subject token and a task id. */
export function newCallId(): string {
  return randomUUID().replace(/-/g, '');
}

/**
 * The call id of a call made with an idempotency key: the same owner, tool and key always give
 * the same id, so a repeated submission finds the first one's job instead of running again.
 */
export function idempotentCallId(owner: string, server: string, tool: string, key: string): string {
  return createHash('sha256').update(`${owner}\0${server}\0${tool}\0${key}`).digest('hex').slice(0, 32);
}
