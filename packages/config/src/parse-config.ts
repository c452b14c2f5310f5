import { ConfigError } from './errors.js';
import { type Ctx, type Env, asMap, childPath, isAbsent, readString, report } from './fields.js';
import { deepFreeze } from './freeze.js';
import { readServer } from './server.js';
import { readSettings } from './settings.js';
import type { McpbusConfig, ServerConfig } from './types.js';
import { parseYaml } from './yaml-source.js';

const USED_SECTIONS: ReadonlySet<string> = new Set(['mcp_servers', 'general_settings', 'mcpbus_settings']);

export interface ParseConfigOptions {
  readonly env: Env;
  /** Names the document in YAML syntax errors, e.g. the file path. Defaults to "config". */
  readonly sourceName?: string;
}

/**
 * Parses a LiteLLM-compatible `config.yaml`: resolves `os.environ/` references from `options.env`,
 * validates, applies defaults and returns a deep-frozen config. Throws ConfigError listing every problem.
 */
export function parseConfig(text: string, options: ParseConfigOptions): McpbusConfig {
  const parsed = parseYaml(text, options.sourceName ?? 'config');
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  const ctx: Ctx = { env: options.env, problems: [] };
  // An empty file (or one with only comments) is a gateway with no upstreams.
  const root = isAbsent(parsed.value) ? new Map<string, unknown>() : asMap(ctx, parsed.value, 'config');
  if (root === undefined) throw new ConfigError(ctx.problems);

  const { settings, separatorOk } = readSettings(ctx, root.get('mcpbus_settings'), 'mcpbus_settings');
  const servers = readServers(ctx, root.get('mcp_servers'), separatorOk ? settings.toolSeparator : undefined, settings.callTimeoutMs);
  const masterKey = readMasterKey(ctx, root.get('general_settings'));
  if (ctx.problems.length > 0) throw new ConfigError(ctx.problems);

  const ignoredSections = [...root.keys()].filter((key) => !USED_SECTIONS.has(key)).sort();
  const config: McpbusConfig = { servers, settings, ignoredSections };
  const key = masterKey ?? nonEmpty(options.env['MCPBUS_MASTER_KEY']);
  return deepFreeze(key === undefined ? config : { ...config, masterKey: key });
}

function readServers(ctx: Ctx, value: unknown, separator: string | undefined, defaultTimeoutMs: number): ServerConfig[] {
  if (isAbsent(value)) return [];
  const map = asMap(ctx, value, 'mcp_servers');
  if (map === undefined) return [];
  const servers: ServerConfig[] = [];
  for (const [name, entry] of map) {
    const server = readServer(ctx, name, entry, childPath('mcp_servers', name), separator, defaultTimeoutMs);
    if (server !== undefined) servers.push(server);
  }
  return servers;
}

// Only `master_key` is read; LiteLLM's many other general settings (and any `os.environ/`
// references in them) are left alone, so a copied LiteLLM config loads without their variables.
function readMasterKey(ctx: Ctx, value: unknown): string | undefined {
  if (isAbsent(value)) return undefined;
  const map = asMap(ctx, value, 'general_settings');
  const raw = map?.get('master_key');
  if (isAbsent(raw)) return undefined;
  const path = 'general_settings.master_key';
  const key = readString(ctx, raw, path);
  if (key === '') report(ctx, path, 'must not be empty');
  return key === '' ? undefined : key;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
