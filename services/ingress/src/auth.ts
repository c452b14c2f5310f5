import type { IncomingHttpHeaders } from 'node:http';

export { keysMatch as keyMatches } from '@mcpbus/protocol';

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function stripBearer(value: string): string {
  const trimmed = value.trim();
  return /^bearer\s+/i.test(trimmed) ? trimmed.replace(/^bearer\s+/i, '').trim() : trimmed;
}

/**
 * The API key a request presents, from the headers LiteLLM clients use:
 * `Authorization: Bearer …`, `x-litellm-api-key: Bearer …` (or the bare key), `x-mcp-api-key`.
 */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  for (const name of ['x-litellm-api-key', 'x-mcp-api-key', 'authorization']) {
    const value = single(headers[name]);
    if (value !== undefined && value.trim() !== '') return stripBearer(value);
  }
  return undefined;
}
