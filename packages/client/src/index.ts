export { McpbusClientError } from './errors.js';
export type { CallToolResult, McpTool, Progress, ToolSession } from './types.js';
export { connect, type BusClient, type BusConnectOptions, type CallOptions, type SubmitHandle, type SubmitOptions } from './bus-client.js';
export { MCPClient, type AuthType, type MCPClientOptions } from './mcp-client.js';
export {
  callAnthropicTool,
  callMcpTool,
  callOpenAITool,
  loadMcpTools,
  toolResultText,
  transformAnthropicToolUseToMcpToolCall,
  transformMcpToolToAnthropicTool,
  transformMcpToolToOpenAITool,
  transformOpenAIToolCallToMcpToolCall,
  type AnthropicTool,
  type AnthropicToolUse,
  type McpToolCall,
  type OpenAITool,
  type OpenAIToolCall,
  type ToolFormat,
} from './llm-tools.js';
