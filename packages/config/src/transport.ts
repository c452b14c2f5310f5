import type { TransportKind } from './types.js';

// LiteLLM and MCP client configs spell streamable HTTP several ways; all mean `http`.
const TRANSPORT_ALIASES: ReadonlyMap<string, TransportKind> = new Map([
  ['sse', 'sse'],
  ['http', 'http'],
  ['stdio', 'stdio'],
  ['streamable-http', 'http'],
  ['streamable_http', 'http'],
  ['streamableHttp', 'http'],
]);

export const TRANSPORT_NAMES: readonly string[] = [...TRANSPORT_ALIASES.keys()];

export function transportFromName(name: string): TransportKind | undefined {
  return TRANSPORT_ALIASES.get(name);
}

/**
 * The transport LiteLLM users expect when `transport` is left out: a command means stdio, a URL
 * whose path ends in `/mcp` means streamable HTTP, any other URL means SSE.
 */
export function inferTransport(command: string | undefined, url: string | undefined): TransportKind | undefined {
  if (command !== undefined) return 'stdio';
  if (url === undefined) return undefined;
  const parsed = parseHttpUrl(url);
  if (parsed === undefined) return undefined;
  return parsed.pathname.replace(/\/+$/, '').endsWith('/mcp') ? 'http' : 'sse';
}

/** `text` as an absolute http(s) URL, or undefined. */
export function parseHttpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}
