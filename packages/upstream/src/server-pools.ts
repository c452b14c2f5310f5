import type { McpbusConfig } from '@mcpbus/config';
import type { Logger } from 'pino';
import { loadLocalTools, localToolsTransportFactory } from './local-tools.js';
import { createServerSessions, type ListKind, type ServerSessions } from './server-sessions.js';

/**
 * The session pools of every configured server, `mcp_tools:` included (served in-process over an
 * in-memory transport). Workers and runners each keep their own. A missing local tool module
 * fails here, at start-up, naming the tool.
 */
export async function createServerPools(config: McpbusConfig, log: Logger, onListChanged?: (server: string, kind: ListKind) => void): Promise<Map<string, ServerSessions>> {
  const localTools = await loadLocalTools(config.localTools);
  return new Map(
    config.servers.map((server) => [
      server.name,
      createServerSessions({
        server,
        log,
        ...(onListChanged === undefined ? {} : { onListChanged: (kind: ListKind) => onListChanged(server.name, kind) }),
        ...(server.transport === 'local' ? { transportFactory: localToolsTransportFactory(localTools) } : {}),
      }),
    ]),
  );
}
