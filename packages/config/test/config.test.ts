import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_SETTINGS, type McpbusConfig, loadConfigFile, loadRuntimeEnv, parseConfig } from '../src/index.js';

const FULL_EXAMPLE = `
mcp_servers:
  github:
    url: "https://api.githubcopilot.com/mcp"
    transport: http
    description: "GitHub"
    auth_type: bearer_token
    auth_value: os.environ/GITHUB_TOKEN
    headers: { X-Tenant: acme }
    spec_version: "2025-06-18"
    timeout_ms: 30000
    pool_size: 2
    execution: job
    job_timeout_ms: 600000
    tools:
      create_issue: { idempotent: false }
      search_code: { execution: inline, idempotent: true }
  fixture:
    transport: stdio
    command: node
    args: ["--import", "tsx", "packages/fixture-server/src/main.ts", "--stdio"]
    env: { FOO: bar }
    cwd: "."
general_settings:
  master_key: os.environ/MCPBUS_MASTER_KEY
  database_url: os.environ/DATABASE_URL
mcpbus_settings:
  tool_separator: "_"
  subject_root: mcpbus.test
  allowed_hosts: [localhost, 127.0.0.1, "[::1]"]
  allowed_origins: ["http://localhost:4000"]
  max_body_bytes: 1048576
  catalog_ttl_ms: 1000
  list_deadline_ms: 2000
  call_timeout_ms: 3000
  drain_timeout_ms: 4000
  job_concurrency: 4
  job_max_attempts: 5
  job_backoff_ms: 250
  job_lock_ms: 10000
  task_ttl_ms: 60000
  task_max_ttl_ms: 120000
  task_poll_interval_ms: 2000
model_list:
  - model_name: gpt-4o
    litellm_params: { api_key: os.environ/OPENAI_API_KEY }
litellm_settings: { drop_params: true }
`;

const ENV = { GITHUB_TOKEN: 'ghp_x', MCPBUS_MASTER_KEY: 'sk-master' };

function parse(text: string, env: Record<string, string | undefined> = {}): McpbusConfig {
  return parseConfig(text, { env });
}

/** The problems parseConfig throws for `text`; fails the test when it does not throw. */
function problemsOf(text: string, env: Record<string, string | undefined> = {}): readonly string[] {
  try {
    parseConfig(text, { env });
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function server(text: string, env: Record<string, string | undefined> = {}) {
  const [first] = parse(text, env).servers;
  if (first === undefined) throw new Error('no server');
  return first;
}

describe('parseConfig: full example', () => {
  it('normalises every field', () => {
    const config = parse(FULL_EXAMPLE, ENV);
    expect(config.servers).toEqual([
      {
        name: 'github',
        transport: 'http',
        url: 'https://api.githubcopilot.com/mcp',
        description: 'GitHub',
        authType: 'bearer_token',
        authValue: 'ghp_x',
        headers: { 'X-Tenant': 'acme' },
        specVersion: '2025-06-18',
        timeoutMs: 30000,
        poolSize: 2,
        args: [],
        env: {},
        execution: 'job',
        jobTimeoutMs: 600000,
        tools: { create_issue: { idempotent: false }, search_code: { execution: 'inline', idempotent: true } },
        acceptClientAuth: false,
        maxConcurrentCalls: 64,
        maxQueuedCalls: 256,
        circuitBreakerFailures: 5,
      },
      {
        name: 'fixture',
        transport: 'stdio',
        command: 'node',
        args: ['--import', 'tsx', 'packages/fixture-server/src/main.ts', '--stdio'],
        env: { FOO: 'bar' },
        cwd: '.',
        authType: 'none',
        headers: {},
        timeoutMs: 3000,
        poolSize: 1,
        execution: 'inline',
        jobTimeoutMs: 3600000,
        tools: {},
        acceptClientAuth: false,
        maxConcurrentCalls: 64,
        maxQueuedCalls: 256,
        circuitBreakerFailures: 5,
      },
    ]);
    expect(config.masterKey).toBe('sk-master');
    expect(config.settings).toEqual({
      toolSeparator: '_',
      subjectRoot: 'mcpbus.test',
      allowedHosts: ['localhost', '127.0.0.1', '[::1]'],
      allowedOrigins: ['http://localhost:4000'],
      maxBodyBytes: 1048576,
      catalogTtlMs: 1000,
      listDeadlineMs: 2000,
      callTimeoutMs: 3000,
      drainTimeoutMs: 4000,
      localToolsServer: 'local',
      listPageSize: 500,
      maxSseSessions: 1000,
      jobConcurrency: 4,
      jobMaxAttempts: 5,
      jobBackoffMs: 250,
      jobLockMs: 10000,
      taskTtlMs: 60000,
      taskMaxTtlMs: 120000,
      taskPollIntervalMs: 2000,
      submitBacklogMax: 10000,
      auditArguments: false,
      rateLimitPerMinute: 0,
      maxConcurrentCallsPerKey: 0,
      maxInflightRequests: 10_000,
      jobQueueTimeoutMs: 10_000,
      inputTimeoutMs: 300_000,
      resourceLeaseMs: 60_000,
      streamResumeWindowMs: 60_000,
      upstreamUrlAllowlist: [],
      apiStdioCommands: [],
    });
    expect(config.ignoredSections).toEqual(['litellm_settings', 'model_list']);
  });

  it('deep-freezes the result', () => {
    const config = parse(FULL_EXAMPLE, ENV);
    const [github, fixture] = config.servers;
    for (const part of [config, config.servers, config.settings, config.settings.allowedHosts, config.ignoredSections, github, github?.headers, fixture?.args, fixture?.env]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(() => {
      (config.settings.allowedHosts as string[]).push('evil');
    }).toThrow(TypeError);
  });

  it('keeps servers in config order, even with integer-like names', () => {
    const config = parse('mcp_servers:\n  zeta: { command: a }\n  "2": { command: b }\n  alpha: { command: c }\n');
    expect(config.servers.map((s) => s.name)).toEqual(['zeta', '2', 'alpha']);
  });

  it('accepts an empty document and an empty mcp_servers', () => {
    for (const text of ['', '# nothing here\n', 'mcp_servers:\n', 'mcp_servers: {}\n']) {
      const config = parse(text);
      expect(config.servers).toEqual([]);
      expect(config.settings).toEqual(DEFAULT_SETTINGS);
      expect(config.masterKey).toBeUndefined();
    }
  });

  it('rejects a document that is not a map', () => {
    expect(problemsOf('- a\n- b\n')).toEqual(['config: must be a map']);
    expect(problemsOf('mcp_servers: [a]\n')).toEqual(['mcp_servers: must be a map']);
  });
});

describe('parseConfig: transport', () => {
  it.each([
    ['https://example.com/mcp', 'http'],
    ['https://example.com/mcp/', 'http'],
    ['https://example.com/v1/mcp', 'http'],
    ['https://example.com/sse', 'sse'],
    ['https://example.com/api', 'sse'],
    ['https://example.com/mcpx', 'sse'],
  ])('infers from url %s → %s', (url, transport) => {
    expect(server(`mcp_servers:\n  s:\n    url: "${url}"\n`).transport).toBe(transport);
  });

  it('infers stdio from command', () => {
    const s = server('mcp_servers:\n  s:\n    command: npx\n    args: [-y, pkg]\n');
    expect(s).toMatchObject({ transport: 'stdio', command: 'npx', args: ['-y', 'pkg'], env: {} });
  });

  it.each(['streamable-http', 'streamable_http', 'streamableHttp'])('accepts %s as http', (name) => {
    expect(server(`mcp_servers:\n  s:\n    url: https://x.test/sse\n    transport: ${name}\n`).transport).toBe('http');
  });

  it('reports a bad transport, missing fields and bad URLs', () => {
    const problems = problemsOf(`
mcp_servers:
  a: { url: https://x.test/mcp, transport: websocket }
  b: { transport: sse }
  c: { transport: stdio }
  d: { url: "not a url" }
  e: { url: "ftp://x.test/mcp", transport: http }
  f: { description: nothing }
  g: { transport: stdio, command: node, url: https://x.test/mcp }
  h: { transport: http, url: https://x.test/mcp, command: node }
  i: { command: "" }
`);
    expect(problems).toEqual([
      'mcp_servers.a.transport: must be one of "sse", "http", "stdio", "streamable-http", "streamable_http", "streamableHttp"',
      'mcp_servers.b.url: is required for transport "sse"',
      'mcp_servers.c.command: is required for transport "stdio"',
      'mcp_servers.d.url: must be a URL',
      'mcp_servers.e.url: must be a URL',
      'mcp_servers.f: needs "url" (for transport "http" or "sse") or "command" (for transport "stdio")',
      'mcp_servers.g.url: is not used by transport "stdio"',
      'mcp_servers.h.command: is only used by transport "stdio", not "http"',
      'mcp_servers.i.command: must not be empty',
    ]);
  });
});

describe('parseConfig: env references', () => {
  it('replaces whole-string references in urls, headers, args and env maps', () => {
    const env = { HOST: 'https://h.test/mcp', TENANT: 'acme', ARG: '--flag', SECRET: 's3cr3t' };
    const config = parse(
      `
mcp_servers:
  web: { url: os.environ/HOST, headers: { X-Tenant: os.environ/TENANT, X-Literal: "prefix os.environ/TENANT" } }
  cli: { command: node, args: [main.js, os.environ/ARG], env: { SECRET: os.environ/SECRET } }
`,
      env,
    );
    expect(config.servers[0]).toMatchObject({ url: 'https://h.test/mcp', transport: 'http', headers: { 'X-Tenant': 'acme', 'X-Literal': 'prefix os.environ/TENANT' } });
    expect(config.servers[1]).toMatchObject({ args: ['main.js', '--flag'], env: { SECRET: 's3cr3t' } });
  });

  it('reports unset variables with their path, in lists and maps too', () => {
    const problems = problemsOf(`
mcp_servers:
  web: { url: os.environ/HOST, auth_type: bearer_token, auth_value: os.environ/TOKEN, headers: { X-A: os.environ/HDR } }
  cli: { command: node, args: [a, os.environ/ARG] }
general_settings: { master_key: os.environ/KEY }
mcpbus_settings: { call_timeout_ms: os.environ/TIMEOUT }
`);
    expect(problems).toEqual([
      'mcpbus_settings.call_timeout_ms: environment variable TIMEOUT is not set',
      'mcp_servers.web.url: environment variable HOST is not set',
      'mcp_servers.web.auth_value: environment variable TOKEN is not set',
      'mcp_servers.web.headers.X-A: environment variable HDR is not set',
      'mcp_servers.cli.args[1]: environment variable ARG is not set',
      'general_settings.master_key: environment variable KEY is not set',
    ]);
  });

  it('leaves ignored sections and ignored LiteLLM keys alone', () => {
    const config = parse(`
model_list:
  - litellm_params: { api_key: os.environ/OPENAI_API_KEY }
general_settings: { database_url: os.environ/DATABASE_URL }
mcp_servers:
  s: { command: node, mcp_info: { server_name: os.environ/UNSET } }
`);
    expect(config.servers).toHaveLength(1);
    expect(config.ignoredSections).toEqual(['model_list']);
  });

  it('accepts numeric settings from the environment', () => {
    expect(parse('mcpbus_settings: { max_body_bytes: os.environ/MAX }', { MAX: '1024' }).settings.maxBodyBytes).toBe(1024);
    expect(problemsOf('mcpbus_settings: { max_body_bytes: os.environ/MAX }', { MAX: 'lots' })).toEqual([
      'mcpbus_settings.max_body_bytes: must be a positive integer',
    ]);
  });

  it('does not take names like "constructor" from the env object prototype', () => {
    expect(problemsOf('mcp_servers: { s: { command: os.environ/constructor } }')).toEqual([
      'mcp_servers.s.command: environment variable constructor is not set',
    ]);
  });
});

describe('parseConfig: server names', () => {
  it('names the broken rule', () => {
    const long = 'a'.repeat(41);
    const problems = problemsOf(`
mcp_servers:
  my-server: { command: a }
  "bad name!": { command: a }
  ${long}: { command: a }
  ${'b'.repeat(40)}: { command: a }
`);
    expect(problems).toEqual([
      'mcp_servers.my-server: server name must not contain the tool separator "-"',
      'mcp_servers.bad name!: server name may only contain letters, digits, "_", "-" and "."',
      `mcp_servers.${long}: server name must be at most 40 characters`,
    ]);
  });

  it('judges names against the configured separator', () => {
    const config = parse('mcpbus_settings: { tool_separator: "__" }\nmcp_servers:\n  my-server: { command: a }\n  my_server: { command: a }\n');
    expect(config.servers.map((s) => s.name)).toEqual(['my-server', 'my_server']);
    expect(problemsOf('mcpbus_settings: { tool_separator: "_" }\nmcp_servers:\n  my_server: { command: a }\n')).toEqual([
      'mcp_servers.my_server: server name must not contain the tool separator "_"',
    ]);
  });

  it('does not judge names against an invalid separator', () => {
    expect(problemsOf('mcpbus_settings: { tool_separator: "/" }\nmcp_servers:\n  my-server: { command: a }\n')).toEqual([
      'mcpbus_settings.tool_separator: must be 1 to 3 of the characters A-Z a-z 0-9 _ . -',
    ]);
  });
});

describe('parseConfig: auth', () => {
  it('passes each auth type through', () => {
    for (const type of ['bearer_token', 'basic', 'api_key', 'authorization']) {
      expect(server(`mcp_servers: { s: { url: https://x.test/mcp, auth_type: ${type}, auth_value: v } }`)).toMatchObject({ authType: type, authValue: 'v' });
    }
    expect(server('mcp_servers: { s: { url: https://x.test/mcp, auth_type: none } }')).toMatchObject({ authType: 'none' });
  });

  it('reports inconsistent auth settings', () => {
    const problems = problemsOf(`
mcp_servers:
  a: { url: https://x.test/mcp, auth_value: v }
  b: { url: https://x.test/mcp, auth_type: bearer_token }
  c: { url: https://x.test/mcp, auth_type: oauth2, auth_value: v }
  d: { url: https://x.test/mcp, auth_type: none, auth_value: v }
  e: { url: https://x.test/mcp, auth_type: basic, auth_value: os.environ/EMPTY }
`, { EMPTY: '' });
    expect(problems).toEqual([
      'mcp_servers.a.auth_type: is required when auth_value is set',
      'mcp_servers.b.auth_value: is required when auth_type is "bearer_token"',
      'mcp_servers.c.auth_type: must be one of "none", "bearer_token", "basic", "api_key", "authorization"',
      'mcp_servers.d.auth_value: must not be set when auth_type is "none"',
      'mcp_servers.e.auth_value: must not be empty',
    ]);
  });
});

describe('parseConfig: server fields', () => {
  it('merges LiteLLM static_headers into headers and coerces scalar values', () => {
    const s = server('mcp_servers: { s: { url: https://x.test/mcp, static_headers: { X-A: a, X-B: b }, headers: { X-B: override, X-N: 5 } } }');
    expect(s.headers).toEqual({ 'X-A': 'a', 'X-B': 'override', 'X-N': '5' });
  });

  it('tolerates LiteLLM-only keys but reports unknown ones', () => {
    const text = `
mcp_servers:
  s:
    command: node
    alias: s2
    allowed_tools: [a]
    access_groups: [g]
    mcp_info: { description: x }
    colour: blue
`;
    expect(problemsOf(text)).toEqual(['mcp_servers.s.colour: unknown key']);
  });

  it('reads LiteLLM tool filters', () => {
    const s = server('mcp_servers: { s: { command: node, allowed_tools: [a, b], disallowed_tools: [b] } }');
    expect(s.allowedTools).toEqual(['a', 'b']);
    expect(s.disallowedTools).toEqual(['b']);
    expect(problemsOf('mcp_servers: { s: { command: node, allowed_tools: a } }')).toEqual(['mcp_servers.s.allowed_tools: must be a list of strings']);
  });

  it('reports type and range problems all together', () => {
    const problems = problemsOf(`
mcp_servers:
  s:
    command: node
    args: "--stdio"
    env: [A]
    timeout_ms: 0
    pool_size: 33
    spec_version: "2025-01-01"
    description: [x]
  t:
    url: https://x.test/mcp
    headers: { "bad header": x, X-Ok: { nested: true } }
    timeout_ms: 1.5
`);
    expect(problems).toEqual([
      'mcp_servers.s.args: must be a list of strings',
      'mcp_servers.s.env: must be a map',
      'mcp_servers.s.description: must be a string',
      'mcp_servers.s.spec_version: must be one of 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25, 2026-07-28',
      'mcp_servers.s.timeout_ms: must be a positive integer',
      'mcp_servers.s.pool_size: must be at most 32',
      'mcp_servers.t.headers.bad header: is not a valid header name',
      'mcp_servers.t.headers.X-Ok: must be a string',
      'mcp_servers.t.timeout_ms: must be a positive integer',
    ]);
  });

  it('defaults timeout_ms to call_timeout_ms', () => {
    expect(server('mcp_servers: { s: { command: a } }').timeoutMs).toBe(60000);
    expect(server('mcpbus_settings: { call_timeout_ms: 1234 }\nmcp_servers: { s: { command: a } }').timeoutMs).toBe(1234);
  });
});

describe('parseConfig: settings', () => {
  it('has documented defaults', () => {
    expect(DEFAULT_SETTINGS).toEqual({
      toolSeparator: '-',
      subjectRoot: 'mcpbus',
      allowedHosts: ['localhost', '127.0.0.1', '[::1]'],
      allowedOrigins: [],
      maxBodyBytes: 1024 * 1024,
      catalogTtlMs: 300000,
      listDeadlineMs: 5000,
      callTimeoutMs: 60000,
      drainTimeoutMs: 30000,
      localToolsServer: 'local',
      listPageSize: 500,
      maxSseSessions: 1000,
      jobConcurrency: 16,
      jobMaxAttempts: 3,
      jobBackoffMs: 1000,
      jobLockMs: 30000,
      taskTtlMs: 3600000,
      taskMaxTtlMs: 86400000,
      taskPollIntervalMs: 1000,
      submitBacklogMax: 10000,
      auditArguments: false,
      rateLimitPerMinute: 0,
      maxConcurrentCallsPerKey: 0,
      maxInflightRequests: 10_000,
      jobQueueTimeoutMs: 10_000,
      inputTimeoutMs: 300_000,
      resourceLeaseMs: 60_000,
      streamResumeWindowMs: 60_000,
      upstreamUrlAllowlist: [],
      apiStdioCommands: [],
    });
    expect(parse('mcpbus_settings: {}').settings).toEqual(DEFAULT_SETTINGS);
  });

  it('overrides only the keys given', () => {
    const settings = parse('mcpbus_settings: { tool_separator: ".", allowed_origins: ["HTTP://LocalHost:4000"] }').settings;
    expect(settings).toEqual({ ...DEFAULT_SETTINGS, toolSeparator: '.', allowedOrigins: ['http://localhost:4000'] });
  });

  it('reports every bad setting and unknown keys', () => {
    const problems = problemsOf(`
mcpbus_settings:
  tool_separator: "----"
  subject_root: "Mcp Bus"
  allowed_hosts: localhost
  allowed_origins: ["http://localhost:4000/", "localhost:4000"]
  max_body_bytes: -1
  catalog_ttl_ms: 99999999999
  list_deadline_ms: "soon"
  call_timeout_ms: true
  drain_timeout_ms: 0
  verbose: true
`);
    expect(problems).toEqual([
      'mcpbus_settings.verbose: unknown key',
      'mcpbus_settings.tool_separator: must be 1 to 3 of the characters A-Z a-z 0-9 _ . -',
      'mcpbus_settings.subject_root: must be dot-separated tokens of a-z 0-9 _ - (a NATS subject prefix)',
      'mcpbus_settings.allowed_hosts: must be a list of strings',
      'mcpbus_settings.allowed_origins[0]: must be an origin such as "http://localhost:4000" (no path)',
      'mcpbus_settings.allowed_origins[1]: must be an origin such as "http://localhost:4000" (no path)',
      'mcpbus_settings.max_body_bytes: must be a positive integer',
      'mcpbus_settings.catalog_ttl_ms: must be at most 2147483647',
      'mcpbus_settings.list_deadline_ms: must be a positive integer',
      'mcpbus_settings.call_timeout_ms: must be a positive integer',
      'mcpbus_settings.drain_timeout_ms: must be a positive integer',
    ]);
  });

  it('keeps the default task TTL within the maximum', () => {
    expect(problemsOf('mcpbus_settings: { task_ttl_ms: 5000, task_max_ttl_ms: 4000 }')).toEqual(['mcpbus_settings.task_ttl_ms: must not exceed task_max_ttl_ms (4000)']);
  });

  it('reports bad execution settings by path', () => {
    const problems = problemsOf(`
mcp_servers:
  fx:
    command: node
    execution: background
    job_timeout_ms: 0
    tools:
      slow: { execution: later, idempotent: "yes", retries: 3 }
      fast: inline
`);
    expect(problems).toEqual([
      'mcp_servers.fx.execution: must be "inline" or "job"',
      'mcp_servers.fx.job_timeout_ms: must be a positive integer',
      'mcp_servers.fx.tools.slow.retries: unknown key',
      'mcp_servers.fx.tools.slow.execution: must be "inline" or "job"',
      'mcp_servers.fx.tools.slow.idempotent: must be true or false',
      'mcp_servers.fx.tools.fast: must be a map',
    ]);
  });

  it('ignores unknown general_settings keys', () => {
    expect(parse('general_settings: { store_model_in_db: true, master_key: sk-1 }').masterKey).toBe('sk-1');
  });
});

describe('parseConfig: master key', () => {
  it('prefers general_settings.master_key over MCPBUS_MASTER_KEY', () => {
    expect(parse('general_settings: { master_key: sk-file }', { MCPBUS_MASTER_KEY: 'sk-env' }).masterKey).toBe('sk-file');
  });

  it('falls back to a non-empty MCPBUS_MASTER_KEY', () => {
    expect(parse('', { MCPBUS_MASTER_KEY: 'sk-env' }).masterKey).toBe('sk-env');
    expect(parse('', { MCPBUS_MASTER_KEY: '' }).masterKey).toBeUndefined();
    expect('masterKey' in parse('', {})).toBe(false);
  });

  it('rejects an empty or non-string key', () => {
    expect(problemsOf('general_settings: { master_key: "" }')).toEqual(['general_settings.master_key: must not be empty']);
    expect(problemsOf('general_settings: { master_key: 1234 }')).toEqual(['general_settings.master_key: must be a string']);
  });

  it('reads the salt key from general_settings.salt_key, else MCPBUS_SALT_KEY', () => {
    expect(parse('general_settings: { salt_key: salt-file }', { MCPBUS_SALT_KEY: 'salt-env' }).saltKey).toBe('salt-file');
    expect(parse('', { MCPBUS_SALT_KEY: 'salt-env' }).saltKey).toBe('salt-env');
    expect('saltKey' in parse('', {})).toBe(false);
    expect(problemsOf('general_settings: { salt_key: "" }')).toEqual(['general_settings.salt_key: must not be empty']);
    expect(problemsOf('general_settings: [1]')).toEqual(['general_settings: must be a map']);
  });
});

describe('parseConfig: YAML errors', () => {
  it('reports syntax errors with source and line', () => {
    const err = (() => {
      try {
        parseConfig('mcp_servers:\n  a: { command: x }\n  a: { command: y }\n', { env: {}, sourceName: 'config.yaml' });
      } catch (e: unknown) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual(['config.yaml:3:3: Map keys must be unique']);
    expect((err as ConfigError).message).toBe('invalid config:\n  - config.yaml:3:3: Map keys must be unique');
  });

  it('reports every syntax error', () => {
    const problems = problemsOf('a: [1, 2\nb: "unterminated\n');
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/^config:\d+:\d+: \S/);
  });
});

describe('loadConfigFile', () => {
  it('reads and parses a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpbus-config-'));
    try {
      const path = join(dir, 'config.yaml');
      await writeFile(path, 'mcp_servers:\n  s: { command: node }\n  s: { command: node }\n');
      await expect(loadConfigFile(path, { env: {} })).rejects.toThrow(`${path}:3:3: Map keys must be unique`);
      await writeFile(path, 'mcp_servers:\n  s: { command: node }\n');
      expect((await loadConfigFile(path, { env: {} })).servers[0]?.name).toBe('s');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('turns a missing file into a ConfigError', async () => {
    const path = join(tmpdir(), 'mcpbus-does-not-exist.yaml');
    const err: unknown = await loadConfigFile(path, { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toMatch(new RegExp(`^config: cannot read ${path}: .*ENOENT`));
  });
});

describe('loadRuntimeEnv', () => {
  it('uses defaults when unset or empty', () => {
    const expected = {
      natsUrl: 'nats://127.0.0.1:4222',
      redisUrl: 'redis://127.0.0.1:6379',
      logLevel: 'info',
      natsUrlIsDefault: true,
      redisUrlIsDefault: true,
    };
    expect(loadRuntimeEnv({})).toEqual(expected);
    expect(loadRuntimeEnv({ NATS_URL: '', REDIS_URL: '', LOG_LEVEL: '' })).toEqual(expected);
  });

  it('takes values from the environment', () => {
    expect(loadRuntimeEnv({ NATS_URL: 'nats://n:1', REDIS_URL: 'redis://r:2', LOG_LEVEL: 'debug' })).toEqual({
      natsUrl: 'nats://n:1',
      redisUrl: 'redis://r:2',
      logLevel: 'debug',
      natsUrlIsDefault: false,
      redisUrlIsDefault: false,
    });
  });
});

describe('parseConfig: mcp_tools', () => {
  it('reads local tools, resolves handler paths against baseDir and adds the local server', () => {
    const config = parseConfig(
      'mcp_tools:\n  - name: get_time\n    description: Time\n    input_schema: { type: object, properties: { f: { type: string } } }\n    handler: ./tools/time.ts#getTime\n  - name: plain\n    handler: /abs/mod.js\n',
      { env: {}, baseDir: '/srv/cfg' },
    );
    expect(config.localTools).toEqual([
      { name: 'get_time', description: 'Time', inputSchema: { type: 'object', properties: { f: { type: 'string' } } }, modulePath: '/srv/cfg/tools/time.ts', exportName: 'getTime' },
      { name: 'plain', inputSchema: { type: 'object' }, modulePath: '/abs/mod.js', exportName: 'default' },
    ]);
    expect(config.servers.at(-1)).toMatchObject({ name: 'local', transport: 'local' });
    expect(parse('mcp_servers: {}').localTools).toEqual([]);
    expect(parse('mcp_servers: {}').servers).toEqual([]);
  });

  it('refuses LiteLLM Python handlers, bad names, duplicates and a clashing server name', () => {
    expect(
      problemsOf(`
mcp_servers:
  local: { command: x }
mcp_tools:
  - name: a
    handler: mcp_tools.get_current_time
  - name: "bad name"
    handler: ./m.ts#f
  - name: b
    handler: ./m.ts#f
  - name: b
    handler: ./m.ts#g
  - name: c
`),
    ).toEqual([
      expect.stringContaining("mcp_tools[0].handler: must be \"path/to/module.ts#exportName\""),
      'mcp_tools[1].name: must be 1 to 128 of the characters A-Z a-z 0-9 _ . -',
      'mcp_tools[3].name: another tool is already named "b"',
      'mcp_tools[4].handler: is required',
      'mcp_servers.local: clashes with the server mcp_tools appear under; rename it or set mcpbus_settings.local_tools_server',
    ]);
  });

  it('puts local tools under another server name when asked', () => {
    const config = parse('mcpbus_settings: { local_tools_server: tools }\nmcp_tools:\n  - { name: a, handler: ./m.ts#f }\n');
    expect(config.servers.map((s) => s.name)).toEqual(['tools']);
    expect(problemsOf('mcpbus_settings: { local_tools_server: my-tools }')).toEqual([expect.stringContaining('mcpbus_settings.local_tools_server')]);
  });
});
