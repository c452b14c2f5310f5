import type { McpPermissions } from './permissions.js';

/**
 * A virtual key as stored in NATS KV, under the SHA-256 (hex) of the key itself. The key is
 * never stored: only its digest (`token`) and a masked form to recognise it by (`key_name`).
 */
export interface KeyRecord {
  readonly v: 1;
  readonly token: string;
  readonly key_name: string;
  readonly key_alias?: string;
  readonly team_id?: string;
  readonly object_permission?: McpPermissions;
  /** Tool calls per minute for this key; overrides `rate_limit_per_minute`. */
  readonly rpm_limit?: number;
  /** Inline calls running at once for this key; overrides `max_concurrent_calls_per_key`. */
  readonly max_parallel_requests?: number;
  /** ISO time after which the key stops working. */
  readonly expires?: string;
  readonly blocked: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly created_at: string;
  readonly updated_at: string;
}

/** A team as stored in NATS KV, under its `team_id`. */
export interface TeamRecord {
  readonly v: 1;
  readonly team_id: string;
  readonly team_alias?: string;
  readonly object_permission?: McpPermissions;
  readonly rpm_limit?: number;
  readonly max_parallel_requests?: number;
  readonly blocked: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly created_at: string;
  readonly updated_at: string;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** A permission block that is well formed, or undefined. */
export function readPermissions(value: unknown): McpPermissions | undefined {
  if (!isObject(value)) return undefined;
  const servers = value['mcp_servers'];
  const tools = value['mcp_tool_permissions'];
  const toolsOk = isObject(tools) && Object.values(tools).every(isStringList);
  return {
    ...(isStringList(servers) ? { mcp_servers: servers } : {}),
    ...(toolsOk ? { mcp_tool_permissions: tools as Record<string, string[]> } : {}),
  };
}

/** A stored key record, or undefined when the value is not one (it is then ignored). */
export function decodeKeyRecord(value: unknown): KeyRecord | undefined {
  if (!isObject(value) || value['v'] !== 1 || typeof value['token'] !== 'string' || typeof value['key_name'] !== 'string') return undefined;
  return value as unknown as KeyRecord;
}

export function decodeTeamRecord(value: unknown): TeamRecord | undefined {
  if (!isObject(value) || value['v'] !== 1 || typeof value['team_id'] !== 'string') return undefined;
  return value as unknown as TeamRecord;
}

/** How a key is shown once created: its first characters and its last four (LiteLLM's `key_name`). */
export function maskKey(key: string): string {
  return key.length <= 10 ? '…' : `${key.slice(0, 3)}...${key.slice(-4)}`;
}
