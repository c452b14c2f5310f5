import { McpbusClientError } from './errors.js';
import type { CallToolResult, McpTool, ToolSession } from './types.js';

/** A tool in the OpenAI Chat Completions `tools` format. */
export interface OpenAITool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** A tool call as an OpenAI-compatible model returns it (`choices[0].message.tool_calls[i]`). */
export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A tool in the Anthropic Messages `tools` format. */
export interface AnthropicTool {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
}

/** A `tool_use` content block of an Anthropic response. */
export interface AnthropicToolUse {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** A call in MCP terms. */
export interface McpToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

export type ToolFormat = 'mcp' | 'openai' | 'anthropic';

/** An MCP tool's input schema, made acceptable to providers that insist on `type: object` with properties. */
function parametersOf(tool: McpTool): Record<string, unknown> {
  const schema = tool.inputSchema;
  return { ...schema, type: 'object', properties: (schema['properties']) ?? {} };
}

export function transformMcpToolToOpenAITool(tool: McpTool): OpenAITool {
  return { type: 'function', function: { name: tool.name, description: tool.description ?? '', parameters: parametersOf(tool) } };
}

export function transformMcpToolToAnthropicTool(tool: McpTool): AnthropicTool {
  return { name: tool.name, description: tool.description ?? '', input_schema: parametersOf(tool) };
}

/** An OpenAI tool call as an MCP call; its JSON arguments must be an object. */
export function transformOpenAIToolCallToMcpToolCall(call: OpenAIToolCall): McpToolCall {
  let parsed: unknown;
  try {
    parsed = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
  } catch (err: unknown) {
    throw new McpbusClientError('invalid_params', `the arguments of tool call ${call.id} are not JSON: ${call.function.arguments.slice(0, 200)}`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new McpbusClientError('invalid_params', `the arguments of tool call ${call.id} are not a JSON object`);
  return { name: call.function.name, arguments: parsed as Record<string, unknown> };
}

export function transformAnthropicToolUseToMcpToolCall(block: AnthropicToolUse): McpToolCall {
  return { name: block.name, arguments: block.input };
}

/** The session's tools, in the format a model API expects (LiteLLM's `load_mcp_tools`). */
export async function loadMcpTools(session: ToolSession, options: { format: 'mcp' }): Promise<McpTool[]>;
export async function loadMcpTools(session: ToolSession, options: { format: 'openai' }): Promise<OpenAITool[]>;
export async function loadMcpTools(session: ToolSession, options: { format: 'anthropic' }): Promise<AnthropicTool[]>;
export async function loadMcpTools(session: ToolSession, options: { format: ToolFormat }): Promise<McpTool[] | OpenAITool[] | AnthropicTool[]> {
  const tools = await session.listTools();
  if (options.format === 'openai') return tools.map(transformMcpToolToOpenAITool);
  if (options.format === 'anthropic') return tools.map(transformMcpToolToAnthropicTool);
  return tools;
}

export function callMcpTool(session: ToolSession, call: McpToolCall): Promise<CallToolResult> {
  return session.callTool(call.name, call.arguments);
}

/** Runs an OpenAI tool call through MCP (LiteLLM's `call_openai_tool`). */
export function callOpenAITool(session: ToolSession, call: OpenAIToolCall): Promise<CallToolResult> {
  return callMcpTool(session, transformOpenAIToolCallToMcpToolCall(call));
}

export function callAnthropicTool(session: ToolSession, block: AnthropicToolUse): Promise<CallToolResult> {
  return callMcpTool(session, transformAnthropicToolUseToMcpToolCall(block));
}

/** The text of a tool result, for the `tool` message (OpenAI) or `tool_result` block (Anthropic) sent back to the model. */
export function toolResultText(result: CallToolResult): string {
  const texts = result.content.filter((c) => c['type'] === 'text').map((c) => String(c['text']));
  return texts.length > 0 ? texts.join('\n') : JSON.stringify(result.structuredContent ?? result.content);
}
