import { exposeResourceUri } from '@mcpbus/protocol';

type Block = Record<string, unknown>;

/**
 * A content block with its resource URIs under `mcpbus://<server>/`: `resource_link` blocks and
 * embedded `resource` blocks name upstream resources, and a client must be able to read them
 * back through the gateway.
 */
export function namespaceBlock(server: string, block: unknown): unknown {
  if (block === null || typeof block !== 'object') return block;
  const b = block as Block;
  if (b['type'] === 'resource_link' && typeof b['uri'] === 'string') return { ...b, uri: exposeResourceUri(server, b['uri']) };
  const embedded = b['resource'] as Block | undefined;
  if (b['type'] === 'resource' && embedded !== undefined && typeof embedded['uri'] === 'string') return { ...b, resource: { ...embedded, uri: exposeResourceUri(server, embedded['uri']) } };
  return block;
}

/** A tool result's `content` with resource URIs namespaced (see namespaceBlock). */
export function namespaceToolResult(server: string, result: Record<string, unknown>): Record<string, unknown> {
  const content = result['content'];
  return Array.isArray(content) ? { ...result, content: content.map((c) => namespaceBlock(server, c)) } : result;
}

/** A prompts/get result's messages with resource URIs namespaced. */
export function namespacePromptResult(server: string, result: Record<string, unknown>): Record<string, unknown> {
  const messages = result['messages'];
  if (!Array.isArray(messages)) return result;
  return { ...result, messages: messages.map((m: Block) => ({ ...m, content: namespaceBlock(server, m['content']) })) };
}
