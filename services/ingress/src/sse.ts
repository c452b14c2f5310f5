/** Response headers of every event stream the ingress writes itself (not the SDK's). */
export const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' } as const;

/**
 * One server-sent event. `data` is JSON text, which holds no line break; `event` names its kind
 * (`message` for MCP's JSON-RPC messages); `id` marks a resumable stream's events.
 */
export function sseEvent(data: string, options: { event?: string; id?: string } = {}): string {
  return `${options.id === undefined ? '' : `id: ${options.id}\n`}event: ${options.event ?? 'message'}\ndata: ${data}\n\n`;
}
