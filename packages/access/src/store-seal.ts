import type { McpbusConfig } from '@mcpbus/config';
import { createSeal, type Seal } from './seal.js';

/**
 * The seal of this deployment's KV records: keyed by the salt key, else the master key. Without
 * either there is nothing to administer, and nothing in KV is trusted.
 */
export function storeSeal(config: McpbusConfig): Seal | undefined {
  const secret = config.saltKey ?? config.masterKey;
  return secret === undefined ? undefined : createSeal(secret);
}
