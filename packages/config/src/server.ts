import { MAX_POOL_SIZE, MAX_TIMER_MS, SPEC_VERSIONS, serverDefaults } from './defaults.js';
import {
  type Ctx,
  type RawMap,
  asMap,
  childPath,
  isAbsent,
  readInteger,
  readString,
  readStringList,
  readStringMap,
  report,
  reportUnknownKeys,
} from './fields.js';
import { serverNameProblems } from './server-name.js';
import { TRANSPORT_NAMES, inferTransport, parseHttpUrl, transportFromName } from './transport.js';
import type { AuthType, ExecutionMode, ServerConfig, ToolPolicy, TransportKind } from './types.js';

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'url', 'transport', 'description', 'auth_type', 'auth_value', 'headers', 'static_headers',
  'spec_version', 'timeout_ms', 'pool_size', 'command', 'args', 'env', 'cwd', 'allowed_tools', 'disallowed_tools',
  'execution', 'tools', 'job_timeout_ms', 'accept_client_auth', 'max_concurrent_calls', 'max_queued_calls', 'circuit_breaker_failures',
]);
const TOOL_KEYS: ReadonlySet<string> = new Set(['execution', 'idempotent']);
const EXECUTION_MODES: ReadonlySet<string> = new Set<ExecutionMode>(['inline', 'job']);

// LiteLLM server keys a copied config may carry. mcpbus has no equivalent yet (access groups,
// OAuth, UI metadata), so they are accepted and ignored rather than failing the load.
// `static_headers` is not here: it is LiteLLM's name for `headers` and is merged into them.
const TOLERATED_LITELLM_KEYS: ReadonlySet<string> = new Set([
  'alias', 'server_id', 'server_name', 'mcp_info', 'access_groups', 'allowed_params', 'extra_headers', 'allow_all_keys', 'authentication_token',
  'client_id', 'client_secret', 'scopes', 'authorization_url', 'token_url', 'registration_url',
]);

const STDIO_ONLY_KEYS = ['command', 'args', 'env', 'cwd'] as const;
const AUTH_TYPES: ReadonlySet<string> = new Set<AuthType>(['none', 'bearer_token', 'basic', 'api_key', 'authorization']);
// RFC 9110 token: what Node's http client accepts as a header name.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENV_NAME = /^[^=\0]+$/;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * One `mcp_servers` entry, or undefined when it has problems (all reported). `separator` is
 * undefined when the configured one is itself invalid, so names are not judged against it.
 */
export function readServer(
  ctx: Ctx,
  name: string,
  value: unknown,
  path: string,
  separator: string | undefined,
  defaultTimeoutMs: number,
): ServerConfig | undefined {
  const before = ctx.problems.length;
  for (const problem of serverNameProblems(name, separator)) report(ctx, path, problem);
  const map = asMap(ctx, value, path);
  if (map === undefined) return undefined;
  reportUnknownKeys(ctx, map, path, KNOWN_KEYS, TOLERATED_LITELLM_KEYS);

  const server: Mutable<ServerConfig> = serverDefaults(name, 'stdio', defaultTimeoutMs);
  const transport = readEndpoint(ctx, map, path, server);
  if (transport !== undefined) server.transport = transport;
  readAuth(ctx, map, path, server);
  readOptional(ctx, map, path, server);
  readExecution(ctx, map, path, server);
  if (!isAbsent(map.get('max_concurrent_calls'))) server.maxConcurrentCalls = readInteger(ctx, map.get('max_concurrent_calls'), childPath(path, 'max_concurrent_calls'), 1, 100_000) ?? server.maxConcurrentCalls;
  if (!isAbsent(map.get('max_queued_calls'))) server.maxQueuedCalls = readInteger(ctx, map.get('max_queued_calls'), childPath(path, 'max_queued_calls'), 0, 1_000_000) ?? server.maxQueuedCalls;
  if (!isAbsent(map.get('circuit_breaker_failures'))) server.circuitBreakerFailures = readInteger(ctx, map.get('circuit_breaker_failures'), childPath(path, 'circuit_breaker_failures'), 0, 10_000) ?? server.circuitBreakerFailures;
  const accept = map.get('accept_client_auth');
  if (typeof accept === 'boolean') server.acceptClientAuth = accept;
  else if (!isAbsent(accept)) report(ctx, childPath(path, 'accept_client_auth'), 'must be true or false');
  return ctx.problems.length === before && transport !== undefined ? server : undefined;
}

/** Transport, URL and stdio fields; returns the transport, or undefined when it cannot be told. */
function readEndpoint(ctx: Ctx, map: RawMap, path: string, server: Mutable<ServerConfig>): TransportKind | undefined {
  const at = (key: string): string => childPath(path, key);
  const get = (key: string): string | undefined => optionalString(ctx, map, path, key);
  const explicitName = get('transport');
  const explicit = explicitName === undefined ? undefined : transportFromName(explicitName);
  if (explicitName !== undefined && explicit === undefined) {
    report(ctx, at('transport'), `must be one of ${TRANSPORT_NAMES.map((t) => `"${t}"`).join(', ')}`);
  }
  const url = get('url');
  const command = get('command');
  if (url !== undefined && parseHttpUrl(url) === undefined) report(ctx, at('url'), 'must be a URL');
  if (command === '') report(ctx, at('command'), 'must not be empty');

  const transport = explicit ?? (explicitName === undefined ? inferTransport(command, url) : undefined);
  if (transport === undefined && explicitName === undefined && isAbsent(map.get('url')) && isAbsent(map.get('command'))) {
    report(ctx, path, 'needs "url" (for transport "http" or "sse") or "command" (for transport "stdio")');
  }
  if (transport === 'stdio') {
    if (isAbsent(map.get('command'))) report(ctx, at('command'), 'is required for transport "stdio"');
    if (!isAbsent(map.get('url'))) report(ctx, at('url'), 'is not used by transport "stdio"');
    readStdio(ctx, map, path, server);
  } else if (transport !== undefined) {
    if (isAbsent(map.get('url'))) report(ctx, at('url'), `is required for transport "${transport}"`);
    for (const key of STDIO_ONLY_KEYS) {
      if (!isAbsent(map.get(key))) report(ctx, at(key), `is only used by transport "stdio", not "${transport}"`);
    }
  }
  if (url !== undefined) server.url = url;
  if (command !== undefined) server.command = command;
  return transport;
}

function readStdio(ctx: Ctx, map: RawMap, path: string, server: Mutable<ServerConfig>): void {
  const at = (key: string): string => childPath(path, key);
  if (!isAbsent(map.get('args'))) server.args = readStringList(ctx, map.get('args'), at('args')) ?? [];
  if (!isAbsent(map.get('env'))) {
    const env = readStringMap(ctx, map.get('env'), at('env'), (key) =>
      ENV_NAME.test(key) ? undefined : 'environment variable names must be non-empty and contain no "="',
    );
    server.env = env ?? {};
  }
  const cwd = optionalString(ctx, map, path, 'cwd');
  if (cwd === '') report(ctx, at('cwd'), 'must not be empty');
  if (cwd !== undefined) server.cwd = cwd;
}

function readAuth(ctx: Ctx, map: RawMap, path: string, server: Mutable<ServerConfig>): void {
  const at = (key: string): string => childPath(path, key);
  const authType = optionalString(ctx, map, path, 'auth_type');
  const authValue = optionalString(ctx, map, path, 'auth_value');
  const valueGiven = !isAbsent(map.get('auth_value'));
  if (authType !== undefined && !AUTH_TYPES.has(authType)) {
    report(ctx, at('auth_type'), `must be one of ${[...AUTH_TYPES].map((t) => `"${t}"`).join(', ')}`);
  } else if (authType === undefined && valueGiven && isAbsent(map.get('auth_type'))) {
    report(ctx, at('auth_type'), 'is required when auth_value is set');
  } else if (authType === 'none' && valueGiven) {
    report(ctx, at('auth_value'), 'must not be set when auth_type is "none"');
  } else if (authType !== undefined && authType !== 'none' && !valueGiven) {
    report(ctx, at('auth_value'), `is required when auth_type is "${authType}"`);
  }
  if (authValue === '') report(ctx, at('auth_value'), 'must not be empty');
  if (authType !== undefined && AUTH_TYPES.has(authType)) server.authType = authType as AuthType;
  if (authValue !== undefined) server.authValue = authValue;
}

function readOptional(ctx: Ctx, map: RawMap, path: string, server: Mutable<ServerConfig>): void {
  const at = (key: string): string => childPath(path, key);
  const checkHeader = (key: string): string | undefined => (HEADER_NAME.test(key) ? undefined : 'is not a valid header name');
  // `headers` win over LiteLLM's `static_headers` when both name the same header.
  const fromStatic = isAbsent(map.get('static_headers')) ? {} : readStringMap(ctx, map.get('static_headers'), at('static_headers'), checkHeader);
  const fromHeaders = isAbsent(map.get('headers')) ? {} : readStringMap(ctx, map.get('headers'), at('headers'), checkHeader);
  server.headers = { ...fromStatic, ...fromHeaders };

  const description = optionalString(ctx, map, path, 'description');
  if (description !== undefined) server.description = description;
  const specVersion = optionalString(ctx, map, path, 'spec_version');
  if (specVersion !== undefined && !SPEC_VERSIONS.includes(specVersion)) {
    report(ctx, at('spec_version'), `must be one of ${SPEC_VERSIONS.join(', ')}`);
  } else if (specVersion !== undefined) server.specVersion = specVersion;
  if (!isAbsent(map.get('timeout_ms'))) {
    server.timeoutMs = readInteger(ctx, map.get('timeout_ms'), at('timeout_ms'), 1, MAX_TIMER_MS) ?? server.timeoutMs;
  }
  if (!isAbsent(map.get('pool_size'))) {
    server.poolSize = readInteger(ctx, map.get('pool_size'), at('pool_size'), 1, MAX_POOL_SIZE) ?? server.poolSize;
  }
  // LiteLLM's tool filters, by upstream tool name: honoured, never silently dropped.
  if (!isAbsent(map.get('allowed_tools'))) {
    const allowed = readStringList(ctx, map.get('allowed_tools'), at('allowed_tools'));
    if (allowed !== undefined) server.allowedTools = allowed;
  }
  if (!isAbsent(map.get('disallowed_tools'))) {
    const disallowed = readStringList(ctx, map.get('disallowed_tools'), at('disallowed_tools'));
    if (disallowed !== undefined) server.disallowedTools = disallowed;
  }
}

/** `execution`, `job_timeout_ms` and the per-tool `tools:` map: how calls run and which may be retried. */
function readExecution(ctx: Ctx, map: RawMap, path: string, server: Mutable<ServerConfig>): void {
  const at = (key: string): string => childPath(path, key);
  const execution = readMode(ctx, map, path);
  if (execution !== undefined) server.execution = execution;
  if (!isAbsent(map.get('job_timeout_ms'))) {
    server.jobTimeoutMs = readInteger(ctx, map.get('job_timeout_ms'), at('job_timeout_ms'), 1, MAX_TIMER_MS) ?? server.jobTimeoutMs;
  }
  if (isAbsent(map.get('tools'))) return;
  const tools = asMap(ctx, map.get('tools'), at('tools'));
  if (tools === undefined) return;
  const entries: [string, ToolPolicy][] = [];
  for (const [name, value] of tools) {
    const toolPath = childPath(at('tools'), name);
    const toolMap = asMap(ctx, value, toolPath);
    if (toolMap === undefined) continue;
    reportUnknownKeys(ctx, toolMap, toolPath, TOOL_KEYS);
    const policy: Mutable<ToolPolicy> = {};
    const mode = readMode(ctx, toolMap, toolPath);
    if (mode !== undefined) policy.execution = mode;
    const idempotent = toolMap.get('idempotent');
    if (typeof idempotent === 'boolean') policy.idempotent = idempotent;
    else if (!isAbsent(idempotent)) report(ctx, childPath(toolPath, 'idempotent'), 'must be true or false');
    entries.push([name, policy]);
  }
  server.tools = Object.fromEntries(entries);
}

function readMode(ctx: Ctx, map: RawMap, path: string): ExecutionMode | undefined {
  const mode = optionalString(ctx, map, path, 'execution');
  if (mode === undefined) return undefined;
  if (EXECUTION_MODES.has(mode)) return mode as ExecutionMode;
  report(ctx, childPath(path, 'execution'), 'must be "inline" or "job"');
  return undefined;
}

function optionalString(ctx: Ctx, map: RawMap, path: string, key: string): string | undefined {
  const value = map.get(key);
  return isAbsent(value) ? undefined : readString(ctx, value, childPath(path, key));
}
