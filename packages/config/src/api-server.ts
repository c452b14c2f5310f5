import { deepFreeze } from './freeze.js';
import type { Ctx } from './fields.js';
import { readServer } from './server.js';
import type { GatewaySettings, ServerConfig } from './types.js';

/** JSON objects become the Maps the YAML validators read; arrays and scalars stay as they are. */
function asYamlValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asYamlValue);
  if (typeof value === 'object' && value !== null) return new Map(Object.entries(value).map(([k, v]) => [k, asYamlValue(v)]));
  return value;
}

const ENV_REF = 'os.environ/';

function mentionsEnvRef(value: unknown): boolean {
  if (typeof value === 'string') return value.startsWith(ENV_REF);
  if (Array.isArray(value)) return value.some(mentionsEnvRef);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(mentionsEnvRef);
  return false;
}

/**
 * A server entry that arrived as JSON (the admin API), validated by exactly the rules of a
 * `mcp_servers:` entry in config.yaml. `os.environ/` references are refused: they would let
 * whoever holds the admin key send the gateway's own environment to a server of their choosing.
 */
export function parseServerEntry(name: string, entry: unknown, settings: GatewaySettings): { server: ServerConfig } | { problems: string[] } {
  if (mentionsEnvRef(entry)) return { problems: [`${name}: "${ENV_REF}…" references work only in config.yaml; send the value itself`] };
  const ctx: Ctx = { env: {}, problems: [] };
  const server = readServer(ctx, name, asYamlValue(entry), name, settings.toolSeparator, settings.callTimeoutMs);
  return server === undefined || ctx.problems.length > 0 ? { problems: ctx.problems } : { server: deepFreeze(server) };
}
