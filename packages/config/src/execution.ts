import type { ExecutionMode, ServerConfig } from './types.js';

/** How a call of `upstreamTool` on `server` runs unless the client asks for a task: the tool's own `execution`, else the server's. */
export function executionOf(server: ServerConfig, upstreamTool: string): ExecutionMode {
  return server.tools[upstreamTool]?.execution ?? server.execution;
}
