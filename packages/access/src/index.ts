export * from './permissions.js';
export * from './records.js';
export { startKvMirror, openBucket, type KvMirror, type MirrorChange } from './kv-mirror.js';
export type { KV } from '@nats-io/kv';
export { startKeyDirectory, KEY_HINT, type KeyDirectory, type Principal } from './key-directory.js';
export { startServerDirectory, type ServerDirectory, type ServerChange, type StoredServer } from './server-directory.js';
export * from './url-guard.js';
export * from './stdio-policy.js';
export { createSeal, type Seal } from './seal.js';
