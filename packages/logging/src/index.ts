import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';
export * from './metrics.js';
export * from './tracing.js';
export * from './upstream-call.js';

/**
 * Paths whose values never reach a log line: credentials in headers, upstream auth and the
 * environment handed to stdio servers. Under a `headers` object (a request's, a call's) only
 * credential-bearing headers are hidden (see `censor`); a server's configured headers all are.
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
  'headers.*',
  '*.headers.*',
  // A caller's own upstream credentials (x-mcp-{server}-{header}, x-mcp-auth) as calls carry them.
  'upstreamHeaders.*',
  '*.upstreamHeaders.*',
  'clientHeaders.*',
  '*.clientHeaders.*',
  'masterKey',
  'master_key',
  'saltKey',
  'salt_key',
  'authValue',
  'auth_value',
  '*.authValue',
  '*.auth_value',
  'server.env.*',
  'env.*',
  '*.env.*',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
];

const CENSORED = '[REDACTED]';
/** Headers that carry credentials: mcpbus keys, upstream credentials of callers (`x-mcp-*`), cookies. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-litellm-api-key|x-mcp-)/i;

/** What a redacted path shows: a harmless request header (content-type, accept) keeps its value. */
function censor(value: unknown, path: string[]): unknown {
  const key = path.at(-1) ?? '';
  const harmlessHeader = path.at(-2) === 'headers' && path[0] !== 'server' && !CREDENTIAL_HEADER.test(key);
  return harmlessHeader ? value : CENSORED;
}

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
    redact: { paths: [...REDACT_PATHS], censor },
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}

/** A logger that writes nothing; for tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
