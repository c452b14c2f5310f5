import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths whose values never reach a log line: credentials in headers, upstream auth and the
 * environment handed to stdio servers.
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
  'headers.authorization',
  'headers["x-litellm-api-key"]',
  'headers["x-mcp-api-key"]',
  'headers["x-mcp-auth"]',
  'headers["x-api-key"]',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers["x-litellm-api-key"]',
  'req.headers["x-mcp-auth"]',
  'masterKey',
  'master_key',
  'saltKey',
  'salt_key',
  'authValue',
  'auth_value',
  'server.authValue',
  'server.headers.*',
  'server.env.*',
  'env.*',
  '*.apiKey',
  '*.token',
];

export interface LoggerOptions {
  level?: string;
  /** Bound to every line as `service`. */
  service?: string;
  destination?: DestinationStream;
}

/** The one way mcpbus builds a logger: JSON lines, ISO timestamps, secrets redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const config = {
    level: options.level ?? 'info',
    base: options.service === undefined ? { pid: process.pid } : { pid: process.pid, service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/** A logger that writes nothing; for tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
