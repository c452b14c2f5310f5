import { createHash } from 'node:crypto';

/** Default separator between server name and tool name in exposed tool names. */
export const DEFAULT_TOOL_SEPARATOR = '-';
/** Many LLM providers reject longer tool names, so exposed names never exceed this. */
export const MAX_EXPOSED_TOOL_NAME = 64;
/** Longest server name; leaves room for a readable tool part plus a hash when shortening. */
export const MAX_SERVER_NAME = 40;

const TOOL_NAME = /^[A-Za-z0-9_.-]+$/;
const SERVER_NAME = /^[A-Za-z0-9_.-]+$/;

export function isValidServerName(name: string, separator: string): boolean {
  if (name.length === 0 || name.length > MAX_SERVER_NAME || !SERVER_NAME.test(name) || name.includes(separator)) return false;
  // With a multi-character separator a name can still end in part of it ("gh_" and "__"); the
  // prefix must split off exactly as it was joined.
  return serverOfToolName(`${name}${separator}x`, separator) === name;
}

function hashOf(server: string, tool: string, hexChars: number): string {
  return createHash('sha256').update(server).update('\0').update(tool).digest('hex').slice(0, hexChars);
}

/**
 * The name a client sees for `tool` of `server`: `<server><sep><tool>`. Names that would be
 * longer than 64 characters or carry characters outside `A-Za-z0-9_.-` are shortened to a
 * readable head plus a hash of the original, so the result is the same on every replica and
 * across restarts. `hexChars` lengthens the hash; the catalog raises it only on a collision.
 */
export function exposeToolName(server: string, tool: string, separator: string, hexChars = 8): string {
  const full = `${server}${separator}${tool}`;
  if (full.length <= MAX_EXPOSED_TOOL_NAME && TOOL_NAME.test(tool)) return full;
  const prefix = `${server}${separator}`;
  const room = MAX_EXPOSED_TOOL_NAME - prefix.length - hexChars - 1;
  const head = tool.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, Math.max(room, 0));
  return `${prefix}${head}_${hashOf(server, tool, hexChars)}`;
}

/**
 * Exposed names for all tools of one server. Deterministic for a given set of tool names: a
 * shortened name that collides with another name gets a longer hash.
 */
export function exposeServerTools(server: string, tools: readonly string[], separator: string): Map<string, string> {
  const result = new Map<string, string>();
  const taken = new Set<string>();
  // Unshortened names are claimed first so they never change because of a shortened neighbour.
  const sorted = [...new Set(tools)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const plain = sorted.filter((t) => exposeToolName(server, t, separator) === `${server}${separator}${t}`);
  for (const t of plain) {
    result.set(t, `${server}${separator}${t}`);
    taken.add(`${server}${separator}${t}`);
  }
  for (const t of sorted) {
    if (result.has(t)) continue;
    let hexChars = 8;
    let name = exposeToolName(server, t, separator, hexChars);
    while (taken.has(name) && hexChars < 32) name = exposeToolName(server, t, separator, (hexChars += 8));
    result.set(t, name);
    taken.add(name);
  }
  return result;
}

/** The server part of an exposed tool name, or undefined when it has no separator. */
export function serverOfToolName(exposed: string, separator: string): string | undefined {
  const at = exposed.indexOf(separator);
  return at > 0 ? exposed.slice(0, at) : undefined;
}
