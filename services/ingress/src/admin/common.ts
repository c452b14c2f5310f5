import type { IncomingMessage } from 'node:http';
import type { KeyDirectory, KeyRecord, KvMirror, Principal, ServerDirectory, StoredServer, TeamRecord } from '@mcpbus/access';
import type { McpbusConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { isJsonObject } from '../json-object.js';

/** What the admin API works with: the shared directories (NATS KV) and the config. */
export interface AdminDeps {
  keys: KeyDirectory;
  servers: ServerDirectory;
  config: McpbusConfig;
  readBody: (req: IncomingMessage) => Promise<unknown>;
  log: Logger;
}

/** Refuses anyone but the master key; without a master key nobody may administer. */
export function requireAdmin(principal: Principal, config: McpbusConfig, what: string): void {
  if (config.masterKey === undefined)
    throw new McpbusError(ErrorCode.Forbidden, `${what} needs a master key: set general_settings.master_key (or MCPBUS_MASTER_KEY) and call it with that key`);
  if (!principal.admin) throw new McpbusError(ErrorCode.Forbidden, `${what} is for the master key only`);
}

export function badRequest(message: string): McpbusError {
  return new McpbusError(ErrorCode.BadRequest, message);
}

/** The request's JSON object body. */
export async function objectBody(req: IncomingMessage, deps: AdminDeps): Promise<Record<string, unknown>> {
  const body = await deps.readBody(req);
  if (!isJsonObject(body)) throw badRequest('Send a JSON object body');
  return body;
}

export function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw badRequest(`${field} must be a non-empty string`);
  return value;
}

/** A limit of a key or team: a whole number of 1 or more (to stop a key, block it). */
export function optionalLimit(body: Record<string, unknown>, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw badRequest(`${field} must be a whole number, 1 or more (to stop a key, use /key/block)`);
  return value;
}

export function optionalBoolean(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`${field} must be true or false`);
  return value;
}

export function optionalObject(body: Record<string, unknown>, field: string): Record<string, unknown> | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw badRequest(`${field} must be a JSON object`);
  return value;
}

/** A list of names from the body (`keys`, `team_ids`, …). */
export function stringList(body: Record<string, unknown>, field: string): string[] {
  const value = body[field];
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v !== '')) throw badRequest(`${field} must be a non-empty list of strings`);
  return value as string[];
}

/** The KV stores the admin API writes; they exist whenever a master key is set (requireAdmin checks that). */
export function stores(deps: AdminDeps): { keys: KvMirror<KeyRecord>; teams: KvMirror<TeamRecord>; servers: KvMirror<StoredServer> } {
  const { keys, teams } = deps.keys;
  const servers = deps.servers.mirror;
  if (keys === undefined || teams === undefined || servers === undefined) throw new McpbusError(ErrorCode.Forbidden, 'The admin API needs a master key: set general_settings.master_key (or MCPBUS_MASTER_KEY)');
  return { keys, teams, servers };
}

/** `page` and `size` query parameters, LiteLLM's paging of lists. */
export function paging(url: URL): { page: number; size: number } {
  const page = Number(url.searchParams.get('page') ?? '1');
  const size = Number(url.searchParams.get('size') ?? '50');
  if (!Number.isInteger(page) || page < 1) throw badRequest('page must be a whole number, 1 or more');
  if (!Number.isInteger(size) || size < 1 || size > 1_000) throw badRequest('size must be a whole number from 1 to 1000');
  return { page, size };
}

export function pageOfList<T>(items: readonly T[], page: number, size: number): { items: T[]; total_count: number; current_page: number; total_pages: number } {
  return { items: items.slice((page - 1) * size, page * size), total_count: items.length, current_page: page, total_pages: Math.max(1, Math.ceil(items.length / size)) };
}
