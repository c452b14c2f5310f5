import { ProtocolError, ProtocolErrorCode, Server, isInputRequiredResult } from '@modelcontextprotocol/server';
import { registerContent } from './content.js';
import { counterUri, createCounters, type Counters } from './counters.js';
import { FIXTURE_TOOLS, type FixtureTool } from './tools.js';

export interface FixtureServerOptions {
  /** `serverInfo.name`; defaults to `mcpbus-fixture`. */
  name?: string;
  /** Tools per `tools/list` page; unset (or 0) serves every tool in one page. */
  pageSize?: number;
  /** What the `crash` tool does; defaults to `process.exit(1)`. */
  onCrash?: () => void;
  /** The counters `touch` bumps; by default a set of this instance's own. */
  counters?: Counters;
  /** The era this instance serves (`serveStdio` says which); default legacy. */
  era?: 'legacy' | 'modern';
  /**
   * Whether this instance tells its own connection about counter changes (default true). A
   * 2025 instance tells only about the URIs its client subscribed to with resources/subscribe;
   * a 2026 one sends every change, which its listen router filters by the client's listen
   * streams. HTTP's per-request instances say no: that entry notifies through its handler.
   */
  notifyUpdates?: boolean;
}

/** What the serving entries (stdio, HTTP, SSE) take: the server's options, plus where counters live. */
export type FixtureEntryOptions = Omit<FixtureServerOptions, 'onCrash' | 'counters' | 'era' | 'notifyUpdates'> & {
  /** Keep the counters `touch` bumps in files here, shared with (and watched by) other fixture processes. */
  stateDir?: string;
};

const toolsByName = new Map<string, FixtureTool>(FIXTURE_TOOLS.map(tool => [tool.definition.name, tool]));

/** `grow` adds a tool to this server instance and sends notifications/tools/list_changed. */
export const GROW_TOOL: FixtureTool["definition"] = {
  name: 'grow',
  description: 'Adds a tool and a resource with the given name and notifies tools and resources list_changed.',
  inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
};

function grownTool(name: string): FixtureTool {
  return {
    definition: { name, description: 'Added at run time by grow.', inputSchema: { type: 'object' } },
    run: () => Promise.resolve({ content: [{ type: 'text', text: `${name} ran` }] }),
  };
}

// The cursor is the offset of the page's first tool, as a decimal string.
function pageStart(cursor: string | undefined, total: number): number {
  if (cursor === undefined) return 0;
  const offset = /^\d+$/.test(cursor) ? Number(cursor) : NaN;
  if (!Number.isSafeInteger(offset) || offset >= total) {
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
  const counters = options.counters ?? createCounters();
  // The level this session's client set with logging/setLevel (2025 era), for the `log` tool.
  let logLevel: string | undefined;
  const env = { crash: options.onCrash ?? ((): void => process.exit(1)), touch: (name: string): number => counters.bump(name), counter: (name: string): number => counters.read(name), logLevel: (): string | undefined => logLevel };
  const server = new Server(
    { name: options.name ?? 'mcpbus-fixture', version: '0.1.0' },
    { capabilities: { tools: { listChanged: true }, resources: { listChanged: true, subscribe: true }, prompts: { listChanged: true }, completions: {}, logging: {} } },
  );
  server.setRequestHandler('logging/setLevel', (req) => {
    logLevel = req.params.level;
    return {};
  });
  if (options.notifyUpdates !== false) notifyCounterChanges(server, counters, options.era ?? 'legacy');

  // Tools added at run time by `grow`; they live as long as this server instance (a stdio
  // session), which is what a test of notifications/tools/list_changed needs.
  const grown: FixtureTool[] = [];
  const grownResources = registerContent(server, pageSize, counters);
  const grow: FixtureTool = {
    definition: GROW_TOOL,
    run: async args => {
      const name = typeof args['name'] === 'string' ? args['name'] : '';
      if (!/^[A-Za-z0-9_]{1,32}$/.test(name)) throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'name must be 1-32 of A-Za-z0-9_');
      grown.push(grownTool(name));
      grownResources.add(name);
      await server.sendToolListChanged();
      await server.sendResourceListChanged();
      return { content: [{ type: 'text', text: `added ${name}` }] };
    },
  };
  const allTools = (): FixtureTool[] => [...FIXTURE_TOOLS, grow, ...grown];

  server.setRequestHandler('tools/list', req => {
    const tools = allTools();
    const start = pageStart(req.params?.cursor, tools.length);
    const end = pageSize === 0 ? tools.length : Math.min(start + pageSize, tools.length);
    const page = tools.slice(start, end).map(tool => tool.definition);
    return end < tools.length ? { tools: page, nextCursor: String(end) } : { tools: page };
  });

  server.setRequestHandler('tools/call', async (req, ctx) => {
    const tool = toolsByName.get(req.params.name) ?? [grow, ...grown].find(t => t.definition.name === req.params.name);
    if (!tool) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    const result = await tool.run(req.params.arguments ?? {}, ctx, env);
    if (isInputRequiredResult(result)) return result;
    // The codec's era-specific shaping of structuredContent; low-level handlers apply it themselves.
    return server.projectCallToolResult(result, tool.definition.outputSchema);
  });

  return server;
}

/** resources/subscribe and unsubscribe (2025 era), and notifications/resources/updated for the counters. */
function notifyCounterChanges(server: Server, counters: Counters, era: 'legacy' | 'modern'): void {
  const subscribed = new Set<string>();
  server.setRequestHandler('resources/subscribe', req => {
    subscribed.add(req.params.uri);
    return {};
  });
  server.setRequestHandler('resources/unsubscribe', req => {
    subscribed.delete(req.params.uri);
    return {};
  });
  const stop = counters.onChange(name => {
    const uri = counterUri(name);
    // An instance made but never connected (a discarded era probe) has no one to tell.
    if (server.transport === undefined || (era === 'legacy' && !subscribed.has(uri))) return;
    server.sendResourceUpdated({ uri }).catch(() => {});
  });
  const previous = server.onclose;
  server.onclose = () => {
    stop();
    previous?.();
  };
}
