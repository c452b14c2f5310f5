import { createHash, timingSafeEqual } from 'node:crypto';
import { ANONYMOUS_OWNER } from './messages.js';

/** NATS header in which a bus request carries the caller's API key (the same key as over HTTP). */
export const API_KEY_HEADER = 'Mcpbus-Api-Key';
/** NATS header of a durable submission naming a subject its end should also be published on. */
export const REPLY_TO_HEADER = 'Mcpbus-Reply-To';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
/** Digests of configured keys (there are few), so each request hashes only the key it presents. */
const expectedDigests = new Map<string, Buffer>();

function expectedDigest(value: string): Buffer {
  let d = expectedDigests.get(value);
  if (d === undefined) {
    d = digest(value);
    if (expectedDigests.size >= 100) expectedDigests.clear();
    expectedDigests.set(value, d);
  }
  return d;
}

/** Constant-time comparison of a presented key with the expected one. */
export function keysMatch(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), expectedDigest(expected));
}

/** SHA-256 (hex) of a key: who owns tasks and sessions, without keeping the key itself. */
export function keyFingerprint(key: string | undefined): string {
  return key === undefined || key === '' ? '' : digest(key).toString('hex');
}

/** The owner of what a caller with this key creates (`anonymous` without a key). */
export function ownerOfKey(key: string | undefined): string {
  const fingerprint = keyFingerprint(key);
  return fingerprint === '' ? ANONYMOUS_OWNER : fingerprint;
}
