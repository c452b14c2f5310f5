/** A JSON object (not null, not an array): the shape of JSON-RPC messages, params and arguments. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
