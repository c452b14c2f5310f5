import { exposeServerTools, type CatalogTool } from '@mcpbus/protocol';

/** An MCP Tool as an upstream listed it. */
export interface UpstreamTool {
  name: string;
  inputSchema?: Record<string, unknown>;
  [key: string]: unknown;
}

const EMPTY_OBJECT_SCHEMA = Object.freeze({ type: 'object' });

/**
 * The catalog entries for one server's tools: exposed names assigned, upstream identity kept
 * beside them. Tools keep their description, schemas and annotations unchanged.
 */
export function buildServerCatalog(server: string, tools: readonly UpstreamTool[], separator: string): CatalogTool[] {
  const names = exposeServerTools(server, tools.map((t) => t.name), separator);
  return tools.map((t) => {
    const name = names.get(t.name) ?? t.name;
    const inputSchema = t.inputSchema !== undefined && typeof t.inputSchema === 'object' ? t.inputSchema : { ...EMPTY_OBJECT_SCHEMA };
    return { name, server, upstreamName: t.name, tool: { ...t, name, inputSchema } };
  });
}
