import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { maskKey, type KeyRecord, type Principal } from '@mcpbus/access';
import { ErrorCode, McpbusError, keyFingerprint } from '@mcpbus/protocol';
import { sendJson } from '../http-replies.js';
import { type AdminDeps, badRequest, stores, objectBody, optionalBoolean, optionalLimit, optionalObject, optionalString, pageOfList, paging, requireAdmin, stringList } from './common.js';
import { readGrant } from './grants.js';

const DURATION = /^(\d+)(s|m|h|d|w|mo|y)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, mo: 2_592_000_000, y: 31_536_000_000 };
const TOKEN = /^[0-9a-f]{64}$/;

/** LiteLLM's `duration` ("30s", "12h", "30d", "1mo"): when a new key stops working. */
function expiryOf(body: Record<string, unknown>): string | undefined {
  const duration = optionalString(body, 'duration');
  if (duration === undefined) return undefined;
  const match = DURATION.exec(duration);
  if (match === null) throw badRequest('duration must look like "30s", "15m", "12h", "30d", "2w", "1mo" or "1y"');
  return new Date(Date.now() + Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1_000)).toISOString();
}

/** A key named in a request: the key itself (`sk-…`) or its digest (`token`, as /key/list shows it). */
function findKey(ref: string, deps: AdminDeps): KeyRecord {
  const record = (TOKEN.test(ref) ? stores(deps).keys.get(ref) : undefined) ?? stores(deps).keys.get(keyFingerprint(ref));
  if (record === undefined) throw new McpbusError(ErrorCode.NotFound, 'No such key (it may have been deleted)');
  return record;
}

/** Fields a key's create and update requests may set. */
function keyFields(body: Record<string, unknown>, deps: AdminDeps): Partial<KeyRecord> {
  const teamId = optionalString(body, 'team_id');
  if (teamId !== undefined && stores(deps).teams.get(teamId) === undefined) throw badRequest(`team_id "${teamId}" names no team; create it with POST /team/new`);
  const grant = readGrant(body, deps.servers);
  const fields: Record<string, unknown> = {
    key_alias: optionalString(body, 'key_alias'),
    team_id: teamId,
    object_permission: grant,
    rpm_limit: optionalLimit(body, 'rpm_limit'),
    max_parallel_requests: optionalLimit(body, 'max_parallel_requests'),
    expires: expiryOf(body),
    blocked: optionalBoolean(body, 'blocked'),
    metadata: optionalObject(body, 'metadata'),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

function aliasTaken(alias: string | undefined, token: string, deps: AdminDeps): void {
  if (alias === undefined) return;
  for (const [, record] of stores(deps).keys.entries()) if (record.key_alias === alias && record.token !== token) throw badRequest(`key_alias "${alias}" is taken by another key`);
}

/** What a key looks like in answers: its record (which never holds the key itself). */
const view = (record: KeyRecord): Record<string, unknown> => {
  const { v: _v, ...rest } = record;
  return rest;
};

async function generate(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const chosen = optionalString(body, 'key');
  if (chosen !== undefined && chosen.length < 16) throw badRequest('key must be at least 16 characters (or leave it out and mcpbus makes one)');
  if (chosen !== undefined && chosen === deps.config.masterKey) throw badRequest('key must not be the master key');
  const key = chosen ?? `sk-${randomBytes(24).toString('base64url')}`;
  const token = keyFingerprint(key);
  if (stores(deps).keys.get(token) !== undefined) throw badRequest('that key exists already');
  const fields = keyFields(body, deps);
  aliasTaken(fields.key_alias, token, deps);
  const now = new Date().toISOString();
  const record: KeyRecord = { v: 1, token, key_name: maskKey(key), blocked: false, metadata: {}, ...fields, created_at: now, updated_at: now };
  await stores(deps).keys.write(token, record);
  deps.log.info({ keyName: record.key_name, alias: record.key_alias, teamId: record.team_id }, 'key generated');
  sendJson(res, 200, { key, ...view(record) });
}

async function update(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const current = findKey(optionalString(body, 'key') ?? '', deps);
  const fields = keyFields(body, deps);
  aliasTaken(fields.key_alias, current.token, deps);
  const record: KeyRecord = { ...current, ...fields, updated_at: new Date().toISOString() };
  await stores(deps).keys.write(record.token, record);
  sendJson(res, 200, view(record));
}

async function setBlocked(req: IncomingMessage, res: ServerResponse, deps: AdminDeps, blocked: boolean): Promise<void> {
  const body = await objectBody(req, deps);
  const current = findKey(optionalString(body, 'key') ?? '', deps);
  const record: KeyRecord = { ...current, blocked, updated_at: new Date().toISOString() };
  await stores(deps).keys.write(record.token, record);
  sendJson(res, 200, view(record));
}

/** `/key/delete` with `{ keys: [...] }` and/or `{ key_aliases: [...] }`; every named key must exist. */
async function remove(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  if (body['keys'] === undefined && body['key_aliases'] === undefined) throw badRequest('Send { "keys": ["sk-…"] } or { "key_aliases": ["…"] }');
  const records = body['keys'] === undefined ? [] : stringList(body, 'keys').map((k) => findKey(k, deps));
  for (const alias of body['key_aliases'] === undefined ? [] : stringList(body, 'key_aliases')) {
    const match = [...stores(deps).keys.entries()].find(([, r]) => r.key_alias === alias);
    if (match === undefined) throw new McpbusError(ErrorCode.NotFound, `No key has the alias "${alias}"`);
    records.push(match[1]);
  }
  for (const record of records) await stores(deps).keys.remove(record.token);
  deps.log.info({ keys: records.map((r) => r.key_name) }, 'keys deleted');
  sendJson(res, 200, { deleted_keys: records.map((r) => r.token) });
}

/** `/key/regenerate` with `{ key }`: a new key with the same settings; the old one stops working. */
async function regenerate(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const current = findKey(optionalString(body, 'key') ?? '', deps);
  const key = `sk-${randomBytes(24).toString('base64url')}`;
  const token = keyFingerprint(key);
  const record: KeyRecord = { ...current, token, key_name: maskKey(key), updated_at: new Date().toISOString() };
  await stores(deps).keys.write(token, record);
  await stores(deps).keys.remove(current.token);
  sendJson(res, 200, { key, ...view(record) });
}

/** `/key/info?key=…`; without `key`, a key asks about itself (any key may). */
function info(url: URL, res: ServerResponse, principal: Principal, deps: AdminDeps): void {
  const ref = url.searchParams.get('key');
  if (ref === null) {
    if (principal.key === undefined) throw badRequest('Name the key: /key/info?key=sk-…');
    return sendJson(res, 200, { key: principal.key.token, info: view(principal.key) });
  }
  requireAdmin(principal, deps.config, '/key/info of another key');
  const record = findKey(ref, deps);
  sendJson(res, 200, { key: record.token, info: view(record) });
}

function list(url: URL, res: ServerResponse, deps: AdminDeps): void {
  const { page, size } = paging(url);
  const team = url.searchParams.get('team_id');
  const alias = url.searchParams.get('key_alias');
  const full = url.searchParams.get('return_full_object') === 'true';
  const records = [...stores(deps).keys.entries()]
    .map(([, r]) => r)
    .filter((r) => (team === null || r.team_id === team) && (alias === null || r.key_alias === alias))
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  const { items, ...counts } = pageOfList(records, page, size);
  sendJson(res, 200, { keys: items.map((r) => (full ? view(r) : r.token)), ...counts });
}

export type KeyRoute = 'generate' | 'update' | 'delete' | 'info' | 'list' | 'block' | 'unblock' | 'regenerate';

export async function serveKeys(route: KeyRoute, req: IncomingMessage, res: ServerResponse, principal: Principal, deps: AdminDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://ingress');
  const method = route === 'info' || route === 'list' ? 'GET' : 'POST';
  if (req.method !== method) throw badRequest(`Use ${method} /key/${route}`);
  if (route === 'info') return info(url, res, principal, deps);
  requireAdmin(principal, deps.config, `/key/${route}`);
  if (route === 'list') return list(url, res, deps);
  if (route === 'generate') return generate(req, res, deps);
  if (route === 'update') return update(req, res, deps);
  if (route === 'delete') return remove(req, res, deps);
  if (route === 'regenerate') return regenerate(req, res, deps);
  return setBlocked(req, res, deps, route === 'block');
}
