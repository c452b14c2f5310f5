/** An MCP tool as mcpbus lists it (its name is the exposed, server-prefixed one). */
export interface McpTool {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  [key: string]: unknown;
}

/** An MCP `tools/call` result. */
export interface CallToolResult {
  content: Record<string, unknown>[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [key: string]: unknown;
}

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

/** What the LLM helpers need of a client: both the bus client and `MCPClient` are one. */
export interface ToolSession {
  listTools(): Promise<McpTool[]>;
  callTool(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
}
