import type { IncomingHttpHeaders } from 'node:http';

/** Hostname of a Host header value, without port; IPv6 literals keep their brackets. */
function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1).toLowerCase();
  const colon = host.indexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}

/**
 * DNS-rebinding protection: the Host header must name an allowed host (with or without its
 * port). `*` in the list turns the check off, for deployments behind a proxy that checks Host.
 */
export function hostProblem(headers: IncomingHttpHeaders, allowedHosts: readonly string[]): string | undefined {
  if (allowedHosts.includes('*')) return undefined;
  const host = headers.host;
  if (host === undefined || host === '') return 'Missing Host header';
  const lower = host.toLowerCase();
  if (allowedHosts.some((h) => h.toLowerCase() === lower || h.toLowerCase() === hostnameOf(lower))) return undefined;
  return `Invalid Host header "${host}": add it to mcpbus_settings.allowed_hosts to accept it`;
}

/**
 * Browsers send Origin; other clients usually do not, and requests without one pass. An Origin
 * must be listed in `allowedOrigins`, or, when that list is empty, name an allowed host; with
 * `allowed_hosts: ['*']` that means the very host the request was sent to (same origin).
 */
export function originProblem(headers: IncomingHttpHeaders, allowedOrigins: readonly string[], allowedHosts: readonly string[]): string | undefined {
  const origin = headers.origin;
  if (origin === undefined || origin === '') return undefined;
  if (allowedOrigins.includes(origin)) return undefined;
  if (allowedOrigins.length === 0) {
    try {
      const url = new URL(origin);
      const hostname = url.hostname.toLowerCase();
      const allowed = allowedHosts.includes('*') ? [headers.host ?? ''] : allowedHosts;
      if (allowed.some((h) => h !== '' && hostnameOf(h.toLowerCase()) === hostname)) return undefined;
    } catch {
      // fall through: an unparsable Origin is rejected
    }
  }
  return `Invalid Origin "${origin}": add it to mcpbus_settings.allowed_origins to accept it`;
}
