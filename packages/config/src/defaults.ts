import { DEFAULT_TOOL_SEPARATOR } from '@mcpbus/protocol';
import type { GatewaySettings, ServerConfig, TransportKind } from './types.js';

/** Settings used for every `mcpbus_settings` key the config leaves out. */
export const DEFAULT_SETTINGS: GatewaySettings = Object.freeze({
  toolSeparator: DEFAULT_TOOL_SEPARATOR,
  subjectRoot: 'mcpbus',
  allowedHosts: Object.freeze(['localhost', '127.0.0.1', '[::1]']),
  allowedOrigins: Object.freeze([]),
  maxBodyBytes: 1024 * 1024,
  catalogTtlMs: 300_000,
  listDeadlineMs: 5_000,
  callTimeoutMs: 60_000,
  drainTimeoutMs: 30_000,
  localToolsServer: 'local',
  listPageSize: 500,
  maxSseSessions: 1_000,
  jobConcurrency: 16,
  jobMaxAttempts: 3,
  jobBackoffMs: 1_000,
  jobLockMs: 30_000,
  taskTtlMs: 3_600_000,
  taskMaxTtlMs: 86_400_000,
  taskPollIntervalMs: 1_000,
  submitBacklogMax: 10_000,
  auditArguments: false,
  rateLimitPerMinute: 0,
  maxConcurrentCallsPerKey: 0,
  maxInflightRequests: 10_000,
  jobQueueTimeoutMs: 10_000,
  inputTimeoutMs: 300_000,
  streamResumeWindowMs: 60_000,
  resourceLeaseMs: 60_000,
  upstreamUrlAllowlist: [],
  apiStdioCommands: [],
});

/** Per server and process: calls running at once, and calls waiting beyond them. */
export const DEFAULT_MAX_CONCURRENT_CALLS = 64;
export const DEFAULT_MAX_QUEUED_CALLS = 256;
/** Consecutive upstream failures that pause calls to a server (circuit breaker). */
export const DEFAULT_CIRCUIT_BREAKER_FAILURES = 5;

/** Deadline of an upstream call that runs as a job when the server sets none. */
export const DEFAULT_JOB_TIMEOUT_MS = 3_600_000;

/** MCP protocol revisions an upstream's `spec_version` may name. */
export const SPEC_VERSIONS: readonly string[] = Object.freeze([
  '2024-11-05',
  '2025-03-26',
  '2025-06-18',
  '2025-11-25',
  '2026-07-28',
]);

export const DEFAULT_POOL_SIZE = 1;
export const MAX_POOL_SIZE = 32;
// setTimeout fires at once for delays above 2^31-1 ms, so longer timeouts would silently mean zero.
export const MAX_TIMER_MS = 2_147_483_647;

/** A server with every optional field at its default: what a config entry starts from. */
export function serverDefaults(name: string, transport: TransportKind, timeoutMs: number): ServerConfig {
  return {
    name,
    transport,
    args: [],
    env: {},
    authType: 'none',
    headers: {},
    timeoutMs,
    poolSize: DEFAULT_POOL_SIZE,
    execution: 'inline',
    tools: {},
    jobTimeoutMs: DEFAULT_JOB_TIMEOUT_MS,
    acceptClientAuth: false,
    maxConcurrentCalls: DEFAULT_MAX_CONCURRENT_CALLS,
    maxQueuedCalls: DEFAULT_MAX_QUEUED_CALLS,
    circuitBreakerFailures: DEFAULT_CIRCUIT_BREAKER_FAILURES,
  };
}
