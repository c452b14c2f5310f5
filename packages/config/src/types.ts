/**
 * How mcpbus reaches an upstream MCP server. `local` is the server mcpbus makes of the
 * `mcp_tools:` section: it runs inside each worker and cannot be configured in `mcp_servers`.
 */
export type TransportKind = 'stdio' | 'sse' | 'http' | 'local';
/** How a call runs: answered by a worker while the caller waits, or as a durable BullMQ job. */
export type ExecutionMode = 'inline' | 'job';

/** What the config says of one upstream tool (`tools.<name>:` under a server). */
export interface ToolPolicy {
  readonly execution?: ExecutionMode;
  /** Safe to run again after a runner died mid-call (overrides the tool's annotations). */
  readonly idempotent?: boolean;
}

/** LiteLLM's `auth_type` values. */
export type AuthType = 'none' | 'bearer_token' | 'basic' | 'api_key' | 'authorization';

/** One entry of `mcp_servers:`, validated and normalised. */
export interface ServerConfig {
  readonly name: string;
  readonly transport: TransportKind;
  /** For `sse` and `http`. */
  readonly url?: string;
  /** For `stdio`. */
  readonly command?: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly description?: string;
  readonly authType: AuthType;
  readonly authValue?: string;
  /** Static headers sent on every upstream HTTP request. */
  readonly headers: Readonly<Record<string, string>>;
  /** Protocol revision to speak to this upstream; probed once and cached when absent. */
  readonly specVersion?: string;
  /** Deadline of one upstream call, in milliseconds. */
  readonly timeoutMs: number;
  /** Upstream sessions kept open for this server. */
  readonly poolSize: number;
  /** Only these upstream tools are exposed (LiteLLM `allowed_tools`). */
  readonly allowedTools?: readonly string[];
  /** These upstream tools are never exposed (LiteLLM `disallowed_tools`). */
  readonly disallowedTools?: readonly string[];
  /** How this server's calls run unless a tool says otherwise (default `inline`). */
  readonly execution: ExecutionMode;
  /** Per upstream tool name: execution and idempotence overrides. */
  readonly tools: Readonly<Record<string, ToolPolicy>>;
  /** Deadline of one upstream call when it runs as a job, in milliseconds. */
  readonly jobTimeoutMs: number;
  /** Forward a client's `x-mcp-auth` header to this server as its `Authorization`. */
  readonly acceptClientAuth: boolean;
  /** Calls to this server one worker (or runner) runs at once. */
  readonly maxConcurrentCalls: number;
  /** Calls waiting for a slot beyond which new ones are refused (503). */
  readonly maxQueuedCalls: number;
  /** Consecutive upstream failures (unreachable, timed out) after which calls are paused (circuit open); 0: never. */
  readonly circuitBreakerFailures: number;
  /**
   * Set for servers added through the admin API: every upstream connection is checked against the
   * SSRF guard, with these allow-list entries, at the moment it connects.
   */
  readonly ssrfAllowlist?: readonly string[];
}

/** One `mcp_tools:` entry: a tool whose handler is an exported function of a local module. */
export interface LocalToolConfig {
  readonly name: string;
  readonly description?: string;
  readonly inputSchema: Readonly<Record<string, unknown>>;
  /** Absolute path of the JS/TS module. */
  readonly modulePath: string;
  readonly exportName: string;
}

/** mcpbus's own settings (`mcpbus_settings:`); every key has a default. */
export interface GatewaySettings {
  readonly toolSeparator: string;
  readonly subjectRoot: string;
  /** Host header values accepted by the ingress (hostname, or hostname:port). */
  readonly allowedHosts: readonly string[];
  /** Origin header values accepted by the ingress; requests without Origin always pass. */
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly catalogTtlMs: number;
  /** Per-server deadline when aggregating `tools/list`. */
  readonly listDeadlineMs: number;
  /** Deadline of a call when the server sets none. */
  readonly callTimeoutMs: number;
  /** How long SIGTERM waits for in-flight calls. */
  readonly drainTimeoutMs: number;
  /** The server name `mcp_tools:` appear under. */
  readonly localToolsServer: string;
  /** Items per page of the lists mcpbus serves (tools, resources, templates, prompts). */
  readonly listPageSize: number;
  /** Legacy SSE sessions one ingress replica holds at most. */
  readonly maxSseSessions: number;
  /** Jobs one runner process runs at once. */
  readonly jobConcurrency: number;
  /** Attempts of a job whose tool may be retried (idempotent, read-only, or called with an idempotency key). */
  readonly jobMaxAttempts: number;
  /** First retry delay; it doubles on each further attempt. */
  readonly jobBackoffMs: number;
  /** BullMQ lock of a running job; a runner silent for this long is presumed dead. */
  readonly jobLockMs: number;
  /** How long a task (and its result) is kept after its last change when the client asks for no TTL. */
  readonly taskTtlMs: number;
  /** The longest TTL a client may ask for. */
  readonly taskMaxTtlMs: number;
  /** The polling interval suggested to task clients. */
  readonly taskPollIntervalMs: number;
  /** Durable submissions waiting (in the job queue, then in the stream) beyond which new ones are refused. */
  readonly submitBacklogMax: number;
  /** Put each call's arguments in its audit record (off: they may hold personal data or secrets). */
  readonly auditArguments: boolean;
  /** Tool calls one key may start per minute, across all replicas (0: no limit). */
  readonly rateLimitPerMinute: number;
  /** Inline tool calls one key may have running at once, across all replicas (0: no limit). */
  readonly maxConcurrentCallsPerKey: number;
  /** Requests one ingress answers at once (legacy SSE streams aside); more get 503 with Retry-After (0: no limit). */
  readonly maxInflightRequests: number;
  /** How long the ingress waits for a worker to confirm that a call which runs as a job is queued. */
  readonly jobQueueTimeoutMs: number;
  /** How long a call waits for its client's input (an elicitation a person answers), and a requestState stays valid. */
  readonly inputTimeoutMs: number;
  /**
   * How long a 2025 session's call stream waits for its client to resume it (GET with
   * Last-Event-ID) after its connection ended, before the call is cancelled.
   */
  readonly streamResumeWindowMs: number;
  /**
   * How long a worker keeps a client's resource subscription unless the ingress holding it renews
   * it (every third of it); also how soon subscriptions move off a worker that stopped.
   */
  readonly resourceLeaseMs: number;
  /**
   * Hosts, addresses and CIDR ranges that servers added through the admin API may reach although
   * they are loopback, private, link-local or metadata addresses (the SSRF guard refuses those).
   */
  readonly upstreamUrlAllowlist: readonly string[];
  /** Commands stdio servers added through the admin API may run; empty: stdio servers come only from config.yaml. */
  readonly apiStdioCommands: readonly string[];
}

export interface McpbusConfig {
  /** Upstreams in config order; `mcp_tools:`, when present, adds a last one with transport `local`. */
  readonly servers: readonly ServerConfig[];
  /** The `mcp_tools:` entries, served by the `local` server. */
  readonly localTools: readonly LocalToolConfig[];
  /** `general_settings.master_key` (or MCPBUS_MASTER_KEY). No key means no authentication. */
  readonly masterKey?: string;
  /**
   * `general_settings.salt_key` (or MCPBUS_SALT_KEY): what seals the keys, teams and servers kept
   * in NATS KV. Defaults to the master key; set it to be able to change the master key.
   */
  readonly saltKey?: string;
  readonly settings: GatewaySettings;
  /** Top-level LiteLLM sections that were accepted and ignored (e.g. `model_list`). */
  readonly ignoredSections: readonly string[];
}

/** Process-level settings from the environment. */
export interface RuntimeEnv {
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly logLevel: string;
  /** True when NATS_URL / REDIS_URL were left at their defaults (so `start` may launch them). */
  readonly natsUrlIsDefault: boolean;
  readonly redisUrlIsDefault: boolean;
}
