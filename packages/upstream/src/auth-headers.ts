import type { ServerConfig } from '@mcpbus/config';

/**
 * The HTTP headers mcpbus sends to an upstream: its static `headers` plus the header its
 * `auth_type` calls for. `basic` accepts `user:pass` and encodes it; an already encoded value
 * (no colon) is sent as is.
 */
export function upstreamHeaders(server: Pick<ServerConfig, 'headers' | 'authType' | 'authValue'>): Record<string, string> {
  const headers: Record<string, string> = { ...server.headers };
  const value = server.authValue;
  if (value === undefined || server.authType === 'none') return headers;
  switch (server.authType) {
    case 'bearer_token':
      headers['Authorization'] = `Bearer ${value}`;
      break;
    case 'basic':
      headers['Authorization'] = `Basic ${value.includes(':') ? Buffer.from(value, 'utf8').toString('base64') : value}`;
      break;
    case 'api_key':
      headers['X-API-Key'] = value;
      break;
    case 'authorization':
      headers['Authorization'] = value;
      break;
  }
  return headers;
}
