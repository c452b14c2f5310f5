/**
 * An `mcp_tools:` handler (LiteLLM's oldest form of MCP tool): mcpbus calls it with the validated
 * arguments and a context `{ signal, progress(progress, total?, message?) }` (the type is
 * `LocalToolContext` from `@mcpbus/worker`). Return a string, any JSON value, or an MCP tool
 * result; throw to return an error result.
 */
export function getCurrentTime(args: Record<string, unknown>): string {
  const now = new Date();
  return args['format'] === 'short' ? now.toISOString().slice(11, 16) : now.toISOString();
}
