/** Scheme of the resource URIs (and URI templates) mcpbus exposes. */
export const RESOURCE_URI_SCHEME = 'mcpbus';

const PREFIX = `${RESOURCE_URI_SCHEME}://`;

/**
 * The URI clients see for resource `uri` of `server`: `mcpbus://<server>/<uri>`, the upstream's
 * URI kept verbatim after the first slash. That keeps it readable, a valid URI, and keeps URI
 * template placeholders intact, so a client-expanded template maps back the same way.
 */
export function exposeResourceUri(server: string, uri: string): string {
  return `${PREFIX}${server}/${uri}`;
}

/** The server and upstream URI of an exposed resource URI (or template), or undefined if it is not one. */
export function parseResourceUri(exposed: string): { server: string; uri: string } | undefined {
  if (!exposed.startsWith(PREFIX)) return undefined;
  const rest = exposed.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  return { server: rest.slice(0, slash), uri: rest.slice(slash + 1) };
}
