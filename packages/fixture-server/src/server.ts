import { ProtocolError, ProtocolErrorCode, Server } from '@modelcontextprotocol/server';
import { FIXTURE_TOOLS, type FixtureTool } from './tools.js';

export interface FixtureServerOptions {
  /** `serverInfo.name`; defaults to `mcpbus-fixture`. */
  name?: string;
  /** Tools per `tools/list` page; unset (or 0) serves every tool in one page. */
  pageSize?: number;
  /** What the `crash` tool does; defaults to `process.exit(1)`. */
  onCrash?: () => void;
}

const toolsByName = new Map<string, FixtureTool>(FIXTURE_TOOLS.map(tool => [tool.definition.name, tool]));

// The cursor is the offset of the page's first tool, as a decimal string.
function pageStart(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const offset = /^\d+$/.test(cursor) ? Number(cursor) : NaN;
  if (!Number.isSafeInteger(offset) || offset >= FIXTURE_TOOLS.length) {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid cursor: ${cursor}`);
  }
  return offset;
}

/**
 * Builds a low-level `Server` serving the fixture tools in either protocol era.
 * Construction does no I/O, so it doubles as the per-request HTTP factory.
 */
export function createFixtureServer(options: FixtureServerOptions = {}): Server {
  const pageSize = options.pageSize ?? 0;
  if (!Number.isInteger(pageSize) || pageSize < 0) throw new RangeError(`pageSize must be a non-negative integer, got ${pageSize}`);
  const env = { crash: options.onCrash ?? ((): void => process.exit(1)) };
  const server = new Server(
    { name: options.name ?? 'mcpbus-fixture', version: '0.1.0' },
    { capabilities: { tools: { listChanged: true } } },
  );

  server.setRequestHandler('tools/list', req => {
    const start = pageStart(req.params?.cursor);
    const end = pageSize === 0 ? FIXTURE_TOOLS.length : Math.min(start + pageSize, FIXTURE_TOOLS.length);
    const tools = FIXTURE_TOOLS.slice(start, end).map(tool => tool.definition);
    return end < FIXTURE_TOOLS.length ? { tools, nextCursor: String(end) } : { tools };
  });

  server.setRequestHandler('tools/call', async (req, ctx) => {
    const tool = toolsByName.get(req.params.name);
    if (!tool) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    const result = await tool.run(req.params.arguments ?? {}, ctx, env);
    // The codec's era-specific shaping of structuredContent; low-level handlers apply it themselves.
    return server.projectCallToolResult(result, tool.definition.outputSchema);
  });

  return server;
}
