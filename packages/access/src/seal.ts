import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Seals what mcpbus keeps in NATS KV with AES-256-GCM, bound to the bucket and key it is stored
 * under. Reading a bucket (`nats kv get`) shows no secret (an upstream's `auth_value`, a stdio
 * server's `env`), and a record written by anything but an mcpbus holding the same secret, or
 * copied to another key, does not open: every replica ignores it. (A replayed old value of the
 * same key does open: only NATS permissions keep bus clients from writing these buckets.)
 */
export interface Seal {
  seal(bucket: string, key: string, value: unknown): string;
  /** The value, or undefined when the sealed text was not made by this seal for this bucket and key. */
  open(bucket: string, key: string, text: string): unknown;
}

const VERSION = 'mcpbus-seal-1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * A seal keyed by `secret` (the salt key, else the master key). Changing that secret makes
 * every stored key, team and server unreadable, which is why a separate salt key exists.
 */
export function createSeal(secret: string): Seal {
  const key = Buffer.from(hkdfSync('sha256', secret, 'mcpbus-kv', VERSION, 32));
  const aad = (bucket: string, name: string): Buffer => Buffer.from(`${VERSION}\n${bucket}\n${name}`);
  return {
    seal(bucket, name, value) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(aad(bucket, name));
      const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
      return JSON.stringify({ sealed: VERSION, data: Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64') });
    },
    open(bucket, name, text) {
      try {
        const envelope = JSON.parse(text) as { sealed?: unknown; data?: unknown };
        if (envelope.sealed !== VERSION || typeof envelope.data !== 'string') return undefined;
        const raw = Buffer.from(envelope.data, 'base64');
        if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
        decipher.setAAD(aad(bucket, name));
        decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
        return JSON.parse(plain.toString('utf8')) as unknown;
      } catch {
        return undefined;
      }
    },
  };
}
