import { pathToFileURL } from 'node:url';
import { InMemoryTransport, type Transport } from '@modelcontextprotocol/client';
import { ProtocolError, Server } from '@modelcontextprotocol/server';
import type { LocalToolConfig } from '@mcpbus/config';
import { messageOf } from '@mcpbus/protocol';

/** What a local tool handler receives besides its arguments. */
export interface LocalToolContext {
  /** Aborted when the call is cancelled or times out. */
  signal: AbortSignal;
  /** Sends a progress notification when the caller asked for progress. */
  progress(progress: number, total?: number, message?: string): Promise<void>;
}

type Handler = (args: Record<string, unknown>, context: LocalToolContext) => unknown;

interface LoadedTool {
  config: LocalToolConfig;
  handler: Handler;
}

/**
 * Imports every `mcp_tools` handler. Run at worker start-up: a missing module or export stops
 * the worker with a message naming the tool, rather than failing calls later.
 */
export async function loadLocalTools(tools: readonly LocalToolConfig[]): Promise<LoadedTool[]> {
  return Promise.all(
    tools.map(async (config) => {
      let module: Record<string, unknown>;
      try {
        module = (await import(pathToFileURL(config.modulePath).href)) as Record<string, unknown>;
      } catch (err: unknown) {
        throw new Error(`mcp_tools "${config.name}": cannot load ${config.modulePath}: ${messageOf(err)}`, { cause: err });
      }
      const handler = module[config.exportName];
      if (typeof handler !== 'function') throw new Error(`mcp_tools "${config.name}": ${config.modulePath} has no exported function "${config.exportName}"`);
      return { config, handler: handler as Handler };
    }),
  );
}

/** A handler's return value as a tool result: results pass as they are, text as text, anything else as JSON. */
function toResult(value: unknown): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && Array.isArray((value as { content?: unknown }).content)) return value as Record<string, unknown>;
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return { content: [{ type: 'text', text }] };
}

/**
 * The MCP server the local tools are served by, inside the worker. The worker talks to it
 * over an in-memory transport with the same client, catalog, validation, deadlines and errors
 * as any upstream, so local tools need no second implementation of any of that.
 */
function createLocalToolsServer(tools: readonly LoadedTool[]): Server {
  const byName = new Map(tools.map((t) => [t.config.name, t]));
  const server = new Server({ name: 'mcpbus-local-tools', version: '0.1.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', () => ({
    tools: tools.map(({ config }) => ({
      name: config.name,
      inputSchema: config.inputSchema as { type: 'object' },
      ...(config.description === undefined ? {} : { description: config.description }),
    })),
  }));
  server.setRequestHandler('tools/call', async (request, ctx) => {
    const tool = byName.get(request.params.name);
    if (tool === undefined) throw new ProtocolError(-32602, `Unknown tool: ${request.params.name}`);
    const token = ctx.mcpReq._meta?.progressToken;
    const context: LocalToolContext = {
      signal: ctx.mcpReq.signal,
      progress: async (progress, total, message) => {
        if (token === undefined) return;
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress, ...(total === undefined ? {} : { total }), ...(message === undefined ? {} : { message }) } });
      },
    };
    try {
      return toResult(await tool.handler(request.params.arguments ?? {}, context)) as never;
    } catch (err: unknown) {
      // A handler that throws is the tool failing, not the gateway: the caller gets its message.
      return { content: [{ type: 'text', text: messageOf(err) }], isError: true };
    }
  });
  return server;
}

/** A transport factory for the local tools' server sessions: each session gets its own linked pair. */
export function localToolsTransportFactory(tools: readonly LoadedTool[]): () => Transport {
  return () => {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    void createLocalToolsServer(tools).connect(serverSide);
    return clientSide;
  };
}
