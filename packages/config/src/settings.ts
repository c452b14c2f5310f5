import { DEFAULT_SETTINGS, MAX_TIMER_MS } from './defaults.js';
import { type Ctx, asMap, childPath, isAbsent, readInteger, readString, readStringList, report, reportUnknownKeys } from './fields.js';
import { isValidServerName } from '@mcpbus/protocol';
import type { GatewaySettings } from './types.js';

const SEPARATOR = /^[A-Za-z0-9_.-]{1,3}$/;
const SUBJECT_ROOT = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type IntegerKey = {
  [K in keyof GatewaySettings]: GatewaySettings[K] extends number ? K : never;
}[keyof GatewaySettings];

const INTEGER_KEYS: readonly (readonly [string, IntegerKey, number])[] = [
  ['max_body_bytes', 'maxBodyBytes', Number.MAX_SAFE_INTEGER],
  ['catalog_ttl_ms', 'catalogTtlMs', MAX_TIMER_MS],
  ['list_deadline_ms', 'listDeadlineMs', MAX_TIMER_MS],
  ['call_timeout_ms', 'callTimeoutMs', MAX_TIMER_MS],
  ['drain_timeout_ms', 'drainTimeoutMs', MAX_TIMER_MS],
  ['list_page_size', 'listPageSize', 100_000],
  ['max_sse_sessions', 'maxSseSessions', 1_000_000],
  ['job_concurrency', 'jobConcurrency', 10_000],
  ['job_max_attempts', 'jobMaxAttempts', 100],
  ['job_backoff_ms', 'jobBackoffMs', MAX_TIMER_MS],
  ['job_lock_ms', 'jobLockMs', MAX_TIMER_MS],
  ['task_ttl_ms', 'taskTtlMs', MAX_TIMER_MS],
  ['task_max_ttl_ms', 'taskMaxTtlMs', MAX_TIMER_MS],
  ['task_poll_interval_ms', 'taskPollIntervalMs', MAX_TIMER_MS],
  ['submit_backlog_max', 'submitBacklogMax', 10_000_000],
  ['rate_limit_per_minute', 'rateLimitPerMinute', 100_000_000],
  ['max_concurrent_calls_per_key', 'maxConcurrentCallsPerKey', 1_000_000],
  ['max_inflight_requests', 'maxInflightRequests', 10_000_000],
  ['job_queue_timeout_ms', 'jobQueueTimeoutMs', MAX_TIMER_MS],
  ['input_timeout_ms', 'inputTimeoutMs', MAX_TIMER_MS],
  ['resource_lease_ms', 'resourceLeaseMs', MAX_TIMER_MS],
  ['stream_resume_window_ms', 'streamResumeWindowMs', MAX_TIMER_MS],
];

/** Lists of non-empty strings, by config key. */
const STRING_LIST_KEYS = [
  ['allowed_hosts', 'allowedHosts'],
  ['upstream_url_allowlist', 'upstreamUrlAllowlist'],
  ['api_stdio_commands', 'apiStdioCommands'],
] as const;

/** Limits where 0 turns the limit off. */
const ZERO_MEANS_OFF: ReadonlySet<IntegerKey> = new Set(['rateLimitPerMinute', 'maxConcurrentCallsPerKey', 'maxInflightRequests']);

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'audit_arguments',
  'local_tools_server',
  'tool_separator',
  'subject_root',
  'allowed_origins',
  ...STRING_LIST_KEYS.map(([key]) => key),
  ...INTEGER_KEYS.map(([key]) => key),
]);

/**
 * `mcpbus_settings` over the defaults. An invalid key falls back to its default so validation of
 * the rest (server names depend on the separator) can go on and report its own problems.
 */
export function readSettings(ctx: Ctx, value: unknown, path: string): { settings: GatewaySettings; separatorOk: boolean } {
  const settings: Mutable<GatewaySettings> = { ...DEFAULT_SETTINGS };
  if (isAbsent(value)) return { settings, separatorOk: true };
  const map = asMap(ctx, value, path);
  if (map === undefined) return { settings, separatorOk: true };
  reportUnknownKeys(ctx, map, path, KNOWN_KEYS);
  const at = (key: string): string => childPath(path, key);

  let separatorOk = true;
  const separator = map.get('tool_separator');
  if (!isAbsent(separator)) {
    const text = readString(ctx, separator, at('tool_separator'));
    separatorOk = text !== undefined && SEPARATOR.test(text);
    if (text !== undefined && !separatorOk) {
      report(ctx, at('tool_separator'), 'must be 1 to 3 of the characters A-Z a-z 0-9 _ . -');
    }
    if (text !== undefined && separatorOk) settings.toolSeparator = text;
  }

  const local = map.get('local_tools_server');
  if (!isAbsent(local)) {
    const text = readString(ctx, local, at('local_tools_server'));
    if (text !== undefined && !isValidServerName(text, settings.toolSeparator)) report(ctx, at('local_tools_server'), 'must be a valid server name (see mcp_servers names)');
    else if (text !== undefined) settings.localToolsServer = text;
  }

  const root = map.get('subject_root');
  if (!isAbsent(root)) {
    const text = readString(ctx, root, at('subject_root'));
    if (text !== undefined && !SUBJECT_ROOT.test(text)) {
      report(ctx, at('subject_root'), 'must be dot-separated tokens of a-z 0-9 _ - (a NATS subject prefix)');
    } else if (text !== undefined) settings.subjectRoot = text;
  }

  for (const [key, field] of STRING_LIST_KEYS) {
    const raw = map.get(key);
    if (isAbsent(raw)) continue;
    const list = readNonEmptyStrings(ctx, raw, at(key));
    if (list !== undefined) settings[field] = list;
  }

  const origins = map.get('allowed_origins');
  if (!isAbsent(origins)) {
    const list = readOrigins(ctx, origins, at('allowed_origins'));
    if (list !== undefined) settings.allowedOrigins = list;
  }

  for (const [key, field, max] of INTEGER_KEYS) {
    const raw = map.get(key);
    if (isAbsent(raw)) continue;
    const n = readInteger(ctx, raw, at(key), ZERO_MEANS_OFF.has(field) ? 0 : 1, max);
    if (n !== undefined) settings[field] = n;
  }
  const audit = map.get('audit_arguments');
  if (typeof audit === 'boolean') settings.auditArguments = audit;
  else if (!isAbsent(audit)) report(ctx, at('audit_arguments'), 'must be true or false');
  if (settings.taskTtlMs > settings.taskMaxTtlMs) report(ctx, at('task_ttl_ms'), `must not exceed task_max_ttl_ms (${settings.taskMaxTtlMs})`);
  return { settings, separatorOk };
}

function readNonEmptyStrings(ctx: Ctx, value: unknown, path: string): string[] | undefined {
  const list = readStringList(ctx, value, path);
  if (list === undefined) return undefined;
  const empty = list.findIndex((item) => item === '');
  if (empty >= 0) report(ctx, childPath(path, empty), 'must not be empty');
  return empty >= 0 ? undefined : list;
}

// Browsers send Origin as scheme://host[:port]; an entry with a path or trailing slash would
// never match, so it is rejected here. Entries are normalised (lower-case host, default port dropped).
function readOrigins(ctx: Ctx, value: unknown, path: string): string[] | undefined {
  const list = readNonEmptyStrings(ctx, value, path);
  if (list === undefined) return undefined;
  const origins = list.map((text, i) => {
    const origin = originOf(text);
    if (origin === undefined) report(ctx, childPath(path, i), 'must be an origin such as "http://localhost:4000" (no path)');
    return origin;
  });
  return origins.every((o) => o !== undefined) ? origins : undefined;
}

function originOf(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const bare = url.pathname === '/' && !text.endsWith('/') && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  return (url.protocol === 'http:' || url.protocol === 'https:') && bare ? url.origin : undefined;
}
