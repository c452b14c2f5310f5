// An mcp_tools handler for the job benchmark: no upstream I/O, so the job engine itself is measured.
export function noop(args: Record<string, unknown>): string {
  return typeof args['text'] === 'string' ? args['text'] : '';
}
