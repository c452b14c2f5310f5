import { createHash } from 'node:crypto';
import type { ServerConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { createServerSessions, type ServerSessions } from './server-sessions.js';

/** Credential contexts kept per server; the least recently used one is closed beyond this. */
const MAX_CONTEXTS_PER_SERVER = 256;
/** A credential context unused this long is closed. */
const IDLE_MS = 5 * 60_000;

interface Context {
  sessions: ServerSessions;
  lastUsed: number;
  /** Calls using it now: a context in use is never closed. */
  inUse: number;
  /** Its server was replaced: closed when its last call ends. */
  retired?: boolean;
}

export interface CredentialPools {
  /**
   * The sessions to call `base`'s server with: `base` itself without client credentials,
   * otherwise sessions of their own for exactly these credentials, so one caller's credentials,
   * session or results never serve another caller. Call `release` when the call is over.
   */
  use(base: ServerSessions, clientHeaders: Readonly<Record<string, string>> | undefined): { sessions: ServerSessions; release: () => void };
  /**
   * Forgets a server's credential contexts (it was changed or removed through the admin API):
   * idle ones close now, busy ones when their last call ends.
   */
  retire(serverName: string): void;
  close(): Promise<void>;
}

/**
 * The server as seen with a caller's headers: they replace static headers of the same name (case
 * does not matter), and a client `authorization` replaces the configured auth.
 */
function withClientHeaders(server: ServerConfig, clientHeaders: Readonly<Record<string, string>>): ServerConfig {
  const names = new Set(Object.keys(clientHeaders).map((h) => h.toLowerCase()));
  const kept = Object.fromEntries(Object.entries(server.headers).filter(([h]) => !names.has(h.toLowerCase())));
  const replacesAuth = names.has('authorization') || (server.authType === 'api_key' && names.has('x-api-key'));
  return { ...server, headers: { ...kept, ...clientHeaders }, poolSize: 1, ...(replacesAuth ? { authType: 'none' as const, authValue: undefined } : {}) };
}

/** Session pools per server and credential context, bounded and closed when idle. */
export function createCredentialPools(log: Logger): CredentialPools {
  const contexts = new Map<string, Map<string, Context>>();
  const closeContext = (context: Context): void => void context.sessions.close().catch(() => undefined);
  const sweep = setInterval(() => {
    const cutoff = Date.now() - IDLE_MS;
    for (const byCredential of contexts.values()) {
      for (const [key, context] of byCredential) {
        if (context.inUse === 0 && context.lastUsed < cutoff) {
          byCredential.delete(key);
          closeContext(context);
        }
      }
    }
  }, 60_000);
  sweep.unref();

  return {
    use(base, clientHeaders) {
      if (clientHeaders === undefined || Object.keys(clientHeaders).length === 0) return { sessions: base, release: () => undefined };
      const server = base.server;
      if (server.transport !== 'http' && server.transport !== 'sse')
        throw new McpbusError(ErrorCode.InvalidParams, `server "${server.name}" runs over ${server.transport}; it cannot take per-request credentials (x-mcp-${server.name}-… headers)`);
      const key = createHash('sha256').update(JSON.stringify(Object.entries(clientHeaders).sort(([a], [b]) => a.localeCompare(b)))).digest('hex');
      let byCredential = contexts.get(server.name);
      if (byCredential === undefined) contexts.set(server.name, (byCredential = new Map<string, Context>()));
      let context = byCredential.get(key);
      if (context === undefined) {
        // Beyond the bound, the least recently used idle context goes; contexts in use never do.
        if (byCredential.size >= MAX_CONTEXTS_PER_SERVER) {
          for (const [oldKey, old] of byCredential) {
            if (old.inUse > 0) continue;
            byCredential.delete(oldKey);
            closeContext(old);
            break;
          }
        }
        context = { sessions: createServerSessions({ server: withClientHeaders(server, clientHeaders), log }), lastUsed: Date.now(), inUse: 0 };
        byCredential.set(key, context);
      }
      // Re-inserted, so map order stays least recently used first.
      byCredential.delete(key);
      byCredential.set(key, context);
      context.lastUsed = Date.now();
      context.inUse += 1;
      const used = context;
      let released = false;
      return {
        sessions: used.sessions,
        release: () => {
          if (released) return;
          released = true;
          used.inUse -= 1;
          used.lastUsed = Date.now();
          if (used.retired === true && used.inUse === 0) closeContext(used);
        },
      };
    },
    retire(serverName) {
      const byCredential = contexts.get(serverName);
      if (byCredential === undefined) return;
      contexts.delete(serverName);
      for (const context of byCredential.values()) {
        if (context.inUse === 0) closeContext(context);
        else context.retired = true;
      }
    },
    async close() {
      clearInterval(sweep);
      const all = [...contexts.values()].flatMap((m) => [...m.values()]);
      contexts.clear();
      await Promise.allSettled(all.map((c) => c.sessions.close()));
    },
  };
}
