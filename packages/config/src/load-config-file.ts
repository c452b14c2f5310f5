import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import type { Env } from './fields.js';
import { parseConfig } from './parse-config.js';
import type { McpbusConfig } from './types.js';
import { messageOf } from '@mcpbus/protocol';

/** Reads and parses a config file (see parseConfig); an unreadable file is a ConfigError too. */
export async function loadConfigFile(path: string, options: { readonly env: Env }): Promise<McpbusConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    const reason = messageOf(err);
    throw new ConfigError([`config: cannot read ${path}: ${reason}`], { cause: err });
  }
  return parseConfig(text, { env: options.env, sourceName: path, baseDir: dirname(resolve(path)) });
}
