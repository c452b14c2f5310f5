import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURE_MAIN = resolve(REPO_ROOT, 'packages/fixture-server/src/main.ts');
export const CLI_MAIN = resolve(REPO_ROOT, 'packages/cli/src/main.ts');
export const EVERYTHING_BIN = resolve(REPO_ROOT, 'node_modules/.bin/mcp-server-everything');
export const NATS_URL = 'nats://127.0.0.1:4222';
export const REDIS_URL = 'redis://127.0.0.1:6379';
