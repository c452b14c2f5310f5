import { ConfigError } from './errors.js';
import { type Ctx, type Env, asMap, childPath, isAbsent, readString, report } from './fields.js';
import { serverDefaults } from './defaults.js';
import { deepFreeze } from './freeze.js';
import { readLocalTools } from './local-tools.js';
import { readServer } from './server.js';
import { readSettings } from './settings.js';
import type { McpbusConfig, ServerConfig } from './types.js';
import { parseYaml } from './yaml-source.js';

const USED_SECTIONS: ReadonlySet<string> = new Set(['mcp_servers', 'mcp_tools', 'general_settings', 'mcpbus_settings']);

export interface ParseConfigOptions {
  readonly env: Env;
  /** Names the document in YAML syntax errors, e.g. the file path. Defaults to "config". */
  readonly sourceName?: string;
  /** Where relative `mcp_tools` handler paths start; the config file's folder. Defaults to the working directory. */
  readonly baseDir?: string;
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
  const masterKey = readGeneralKey(ctx, root.get('general_settings'), 'master_key');
  const saltKey = readGeneralKey(ctx, root.get('general_settings'), 'salt_key');
  const localTools = readLocalTools(ctx, root.get('mcp_tools'), options.baseDir ?? process.cwd());
  if (localTools.length > 0 && servers.some((s) => s.name === settings.localToolsServer)) {
    report(ctx, `mcp_servers.${settings.localToolsServer}`, `clashes with the server mcp_tools appear under; rename it or set mcpbus_settings.local_tools_server`);
  }
  if (ctx.problems.length > 0) throw new ConfigError(ctx.problems);

  const ignoredSections = [...root.keys()].filter((key) => !USED_SECTIONS.has(key)).sort();
  const local = localTools.length === 0 ? [] : [localServer(settings.localToolsServer, settings.callTimeoutMs)];
  const config: McpbusConfig = { servers: [...servers, ...local], localTools, settings, ignoredSections };
  const key = masterKey ?? nonEmpty(options.env['MCPBUS_MASTER_KEY']);
  const salt = saltKey ?? nonEmpty(options.env['MCPBUS_SALT_KEY']);
  return deepFreeze({ ...config, ...(key === undefined ? {} : { masterKey: key }), ...(salt === undefined ? {} : { saltKey: salt }) });
}

/** The server `mcp_tools:` appear under; workers serve it in-process. */
function localServer(name: string, timeoutMs: number): ServerConfig {
  return { ...serverDefaults(name, 'local', timeoutMs), poolSize: 1, description: 'mcp_tools from the config' };
}

function readServers(ctx: Ctx, value: unknown, separator: string | undefined, defaultTimeoutMs: number): ServerConfig[] {
  if (isAbsent(value)) return [];
  const map = asMap(ctx, value, 'mcp_servers');
  if (map === undefined) return [];
  const servers: ServerConfig[] = [];
  // HTTP header names ignore case, and `x-mcp-{server}-{header}` names a server in one: two
  // servers whose names differ only in case could not be told apart there.
  const byLowerCase = new Map<string, string>();
  for (const [name, entry] of map) {
    const twin = byLowerCase.get(name.toLowerCase());
    if (twin !== undefined) report(ctx, childPath('mcp_servers', name), `differs from server "${twin}" only in case; header names cannot tell them apart`);
    byLowerCase.set(name.toLowerCase(), name);
    const server = readServer(ctx, name, entry, childPath('mcp_servers', name), separator, defaultTimeoutMs);
    if (server !== undefined) servers.push(server);
  }
  return servers;
}

// Only `master_key` and `salt_key` are read; LiteLLM's many other general settings (and any
// `os.environ/` references in them) are left alone, so a copied LiteLLM config loads without
// their variables.
function readGeneralKey(ctx: Ctx, value: unknown, name: 'master_key' | 'salt_key'): string | undefined {
  if (isAbsent(value)) return undefined;
  // Read twice (once per key): only the first read reports a general_settings that is no map.
  const map = asMap(name === 'master_key' ? ctx : { env: ctx.env, problems: [] }, value, 'general_settings');
  const raw = map?.get(name);
  if (isAbsent(raw)) return undefined;
  const path = `general_settings.${name}`;
  const key = readString(ctx, raw, path);
  if (key === '') report(ctx, path, 'must not be empty');
  return key === '' ? undefined : key;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
