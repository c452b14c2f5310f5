export type * from './types.js';
export { ConfigError } from './errors.js';
export { DEFAULT_SETTINGS, SPEC_VERSIONS } from './defaults.js';
export { type ParseConfigOptions, parseConfig } from './parse-config.js';
export { loadConfigFile } from './load-config-file.js';
export { DEFAULT_LOG_LEVEL, DEFAULT_NATS_URL, DEFAULT_REDIS_URL, loadRuntimeEnv } from './runtime-env.js';
export { parseServerEntry } from './api-server.js';
export { executionOf } from './execution.js';
