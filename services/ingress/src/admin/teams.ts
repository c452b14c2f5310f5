import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal, TeamRecord } from '@mcpbus/access';
import { ErrorCode, McpbusError } from '@mcpbus/protocol';
import { sendJson } from '../http-replies.js';
import { type AdminDeps, badRequest, stores, objectBody, optionalBoolean, optionalLimit, optionalObject, optionalString, pageOfList, paging, requireAdmin, stringList } from './common.js';
import { readGrant } from './grants.js';

// A team id is a KV key (and shows up in URLs): keep it to safe characters.
const TEAM_ID = /^[A-Za-z0-9_.=-]{1,128}$/;

function findTeam(id: string | undefined | null, deps: AdminDeps): TeamRecord {
  const team = id === undefined || id === null ? undefined : stores(deps).teams.get(id);
  if (team === undefined) throw new McpbusError(ErrorCode.NotFound, id === undefined || id === null ? 'Name the team: team_id' : `No team "${id}"`);
  return team;
}

function teamFields(body: Record<string, unknown>, deps: AdminDeps): Partial<TeamRecord> {
  const fields: Record<string, unknown> = {
    team_alias: optionalString(body, 'team_alias'),
    object_permission: readGrant(body, deps.servers),
    rpm_limit: optionalLimit(body, 'rpm_limit'),
    max_parallel_requests: optionalLimit(body, 'max_parallel_requests'),
    blocked: optionalBoolean(body, 'blocked'),
    metadata: optionalObject(body, 'metadata'),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

const view = (team: TeamRecord): Record<string, unknown> => {
  const { v: _v, ...rest } = team;
  return rest;
};

async function create(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const teamId = optionalString(body, 'team_id') ?? randomUUID();
  if (!TEAM_ID.test(teamId)) throw badRequest('team_id may use letters, digits and _ . = - (up to 128)');
  if (stores(deps).teams.get(teamId) !== undefined) throw badRequest(`team "${teamId}" exists already`);
  const now = new Date().toISOString();
  const team: TeamRecord = { v: 1, team_id: teamId, blocked: false, metadata: {}, ...teamFields(body, deps), created_at: now, updated_at: now };
  await stores(deps).teams.write(teamId, team);
  sendJson(res, 200, view(team));
}

async function update(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const current = findTeam(optionalString(body, 'team_id'), deps);
  const team: TeamRecord = { ...current, ...teamFields(body, deps), updated_at: new Date().toISOString() };
  await stores(deps).teams.write(team.team_id, team);
  sendJson(res, 200, view(team));
}

async function setBlocked(req: IncomingMessage, res: ServerResponse, deps: AdminDeps, blocked: boolean): Promise<void> {
  const body = await objectBody(req, deps);
  const current = findTeam(optionalString(body, 'team_id'), deps);
  const team: TeamRecord = { ...current, blocked, updated_at: new Date().toISOString() };
  await stores(deps).teams.write(team.team_id, team);
  sendJson(res, 200, view(team));
}

const keysOf = (teamId: string, deps: AdminDeps) => [...stores(deps).keys.entries()].map(([, k]) => k).filter((k) => k.team_id === teamId);

/** `/team/delete` with `{ team_ids }`: the teams and their keys go (a key of a deleted team stops working anyway). */
async function remove(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const body = await objectBody(req, deps);
  const teams = stringList(body, 'team_ids').map((id) => findTeam(id, deps));
  for (const team of teams) {
    await stores(deps).teams.remove(team.team_id);
    for (const key of keysOf(team.team_id, deps)) await stores(deps).keys.remove(key.token);
  }
  sendJson(res, 200, { deleted_teams: teams.map((t) => t.team_id) });
}

function info(url: URL, res: ServerResponse, principal: Principal, deps: AdminDeps): void {
  const id = url.searchParams.get('team_id');
  // A key may read its own team; anything else is the master key's.
  if (!(principal.key?.team_id !== undefined && principal.key.team_id === id)) requireAdmin(principal, deps.config, '/team/info');
  const team = findTeam(id, deps);
  const keys = keysOf(team.team_id, deps).map((k) => ({ token: k.token, key_name: k.key_name, key_alias: k.key_alias }));
  sendJson(res, 200, { team_id: team.team_id, team_info: view(team), keys });
}

function list(url: URL, res: ServerResponse, deps: AdminDeps): void {
  const { page, size } = paging(url);
  const teams = [...stores(deps).teams.entries()].map(([, t]) => t).sort((a, b) => a.created_at.localeCompare(b.created_at));
  sendJson(res, 200, pageOfList(teams, page, size).items.map(view));
}

export type TeamRoute = 'new' | 'update' | 'delete' | 'info' | 'list' | 'block' | 'unblock';

export async function serveTeams(route: TeamRoute, req: IncomingMessage, res: ServerResponse, principal: Principal, deps: AdminDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://ingress');
  const method = route === 'info' || route === 'list' ? 'GET' : 'POST';
  if (req.method !== method) throw badRequest(`Use ${method} /team/${route}`);
  if (route === 'info') return info(url, res, principal, deps);
  requireAdmin(principal, deps.config, `/team/${route}`);
  if (route === 'list') return list(url, res, deps);
  if (route === 'new') return create(req, res, deps);
  if (route === 'update') return update(req, res, deps);
  if (route === 'delete') return remove(req, res, deps);
  return setBlocked(req, res, deps, route === 'block');
}
