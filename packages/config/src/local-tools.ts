import { isAbsolute, resolve } from 'node:path';
import { type Ctx, asMap, childPath, isAbsent, readString, report, reportUnknownKeys } from './fields.js';
import type { LocalToolConfig } from './types.js';

const KNOWN_KEYS: ReadonlySet<string> = new Set(['name', 'description', 'input_schema', 'handler']);
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MODULE_FILE = /\.(?:[cm]?js|[cm]?ts)$/;
const EXPORT_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** YAML maps arrive as Map; a JSON Schema must be plain objects and arrays. */
function toPlain(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toPlain(v)]));
  if (Array.isArray(value)) return value.map(toPlain);
  return value;
}

/**
 * `path/to/module.ts#exportName` (default export when `#name` is absent), relative to the
 * config file. LiteLLM's Python form (`mcp_tools.get_current_time`) is refused with a hint.
 */
function readHandler(ctx: Ctx, value: unknown, path: string, baseDir: string): { modulePath: string; exportName: string } | undefined {
  const text = readString(ctx, value, path);
  if (text === undefined) return undefined;
  const [file = '', exportName = 'default', ...rest] = text.split('#');
  if (!MODULE_FILE.test(file) || rest.length > 0 || (exportName !== 'default' && !EXPORT_NAME.test(exportName))) {
    report(ctx, path, `must be "path/to/module.ts#exportName" (a JS or TS module and one of its exports), got "${text}"; LiteLLM's Python handlers cannot run in mcpbus`);
    return undefined;
  }
  return { modulePath: isAbsolute(file) ? file : resolve(baseDir, file), exportName };
}

/** LiteLLM's `mcp_tools:` list: tools whose handlers are functions in local modules. */
export function readLocalTools(ctx: Ctx, value: unknown, baseDir: string): LocalToolConfig[] {
  if (isAbsent(value)) return [];
  if (!Array.isArray(value)) {
    report(ctx, 'mcp_tools', 'must be a list of tools');
    return [];
  }
  const tools: LocalToolConfig[] = [];
  const seen = new Set<string>();
  value.forEach((entry: unknown, index) => {
    const path = childPath('mcp_tools', index);
    const map = asMap(ctx, entry, path);
    if (map === undefined) return;
    reportUnknownKeys(ctx, map, path, KNOWN_KEYS);
    const name = readString(ctx, map.get('name'), childPath(path, 'name'));
    if (name !== undefined && !TOOL_NAME.test(name)) report(ctx, childPath(path, 'name'), 'must be 1 to 128 of the characters A-Z a-z 0-9 _ . -');
    else if (name !== undefined && seen.has(name)) report(ctx, childPath(path, 'name'), `another tool is already named "${name}"`);
    const description = isAbsent(map.get('description')) ? undefined : readString(ctx, map.get('description'), childPath(path, 'description'));
    const schema = isAbsent(map.get('input_schema')) ? { type: 'object' } : toPlain(map.get('input_schema'));
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) report(ctx, childPath(path, 'input_schema'), 'must be a JSON Schema object');
    const handler = isAbsent(map.get('handler')) ? report(ctx, childPath(path, 'handler'), 'is required') : readHandler(ctx, map.get('handler'), childPath(path, 'handler'), baseDir);
    if (name === undefined || handler === undefined || schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
    seen.add(name);
    tools.push({ name, inputSchema: schema as Record<string, unknown>, ...handler, ...(description === undefined ? {} : { description }) });
  });
  return tools;
}
