import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function stripBearer(value: string): string {
  const trimmed = value.trim();
  return /^bearer\s+/i.test(trimmed) ? trimmed.replace(/^bearer\s+/i, '').trim() : trimmed;
}

/**
 * The API key a request presents, from the headers LiteLLM clients use:
 * `Authorization: Bearer …`, `x-litellm-api-key: Bearer …` (or the bare key), `x-mcp-api-key`.
 */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  for (const name of ['x-litellm-api-key', 'x-mcp-api-key', 'authorization']) {
    const value = single(headers[name]);
    if (value !== undefined && value.trim() !== '') return stripBearer(value);
  }
  return undefined;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant-time comparison of a presented key with the master key. */
export function keyMatches(presented: string | undefined, masterKey: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(masterKey));
}

/** SHA-256 (hex) of the key a request presents, or '' without one: binds legacy sessions to their key. */
export function keyFingerprint(headers: IncomingHttpHeaders): string {
  const key = presentedKey(headers);
  return key === undefined ? '' : digest(key).toString('hex');
}
