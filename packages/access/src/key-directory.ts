import type { NatsConnection } from '@nats-io/transport-node';
import type { McpbusConfig } from '@mcpbus/config';
import { ErrorCode, McpbusError, createSubjects, keyFingerprint, keysMatch, ownerOfKey } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import { startKvMirror, type KvMirror } from './kv-mirror.js';
import { FULL_ACCESS, effectiveAccess, type Access, type ServerResolver } from './permissions.js';
import { decodeKeyRecord, decodeTeamRecord, type KeyRecord, type TeamRecord } from './records.js';
import { storeSeal } from './store-seal.js';

/** Who a request is, once its key has been checked. */
export interface Principal {
  /** Owner of what the caller creates (tasks, sessions): the key's digest, or `anonymous`. */
  readonly owner: string;
  /** The master key: the admin API and every server. */
  readonly admin: boolean;
  readonly access: Access;
  /** Per-key overrides of the configured rate and concurrency limits. */
  readonly limits: { readonly perMinute?: number; readonly concurrent?: number };
  /** The virtual key's record, when the caller used one. */
  readonly key?: KeyRecord;
}

export interface KeyDirectory {
  /** The principal a presented key (possibly none) stands for, or the reason it stands for none. */
  authenticate(presented: string | undefined): Principal | McpbusError;
  /**
   * The principal behind an owner (a key's digest), for work that outlives its request (a job
   * that starts or retries later): a key revoked, blocked or narrowed since is refused then too.
   */
  authorizeOwner(owner: string): Principal | McpbusError;
  /**
   * `authenticate`, except that a key this replica does not know yet is looked up in the bucket
   * first: a key made a moment ago on another replica works at once (its watch may lag).
   */
  authenticateFresh(presented: string | undefined): Promise<Principal | McpbusError>;
  /** Keys and teams (undefined when no master key is set: there is nothing to administer). */
  readonly keys: KvMirror<KeyRecord> | undefined;
  readonly teams: KvMirror<TeamRecord> | undefined;
  close(): Promise<void>;
}

/** Says where to put the key, in one sentence, for every surface that refuses one. */
export const KEY_HINT = 'send an mcpbus key as "Authorization: Bearer <key>", "x-litellm-api-key: Bearer <key>" or "x-mcp-api-key: <key>"';

/** Unknown keys looked up in the bucket per second, per process. */
const REFRESHES_PER_SECOND = 20;

function refused(reason: string): McpbusError {
  return new McpbusError(ErrorCode.Unauthorized, `Unauthorized: ${reason}`);
}

/**
 * Checks keys against the master key and the virtual keys in NATS KV (mirrored in-process and
 * watched, so a key revoked on any replica stops working on all of them within milliseconds).
 * Without a master key, authentication is off: anyone is accepted with full access, and no
 * virtual key exists. `resolveServer` turns the server references grants hold into names.
 */
export async function startKeyDirectory(nc: NatsConnection, config: McpbusConfig, log: Logger, resolveServer: ServerResolver): Promise<KeyDirectory> {
  const { masterKey } = config;
  const buckets = createSubjects(config.settings.subjectRoot).buckets;
  const seal = storeSeal(config);
  const keys = seal === undefined ? undefined : await startKvMirror(nc, { bucket: buckets.keys, seal, decode: decodeKeyRecord, log });
  const teams = seal === undefined ? undefined : await startKvMirror(nc, { bucket: buckets.teams, seal, decode: decodeTeamRecord, log });
  await Promise.all([keys?.ready, teams?.ready]);
  const masterOwner = masterKey === undefined ? undefined : ownerOfKey(masterKey);
  const master = (owner: string): Principal => ({ owner, admin: true, access: FULL_ACCESS, limits: {} });

  function virtualPrincipal(record: KeyRecord): Principal | McpbusError {
    if (record.blocked) return refused('this key is blocked; ask an admin to unblock it (POST /key/unblock)');
    if (record.expires !== undefined && Date.parse(record.expires) <= Date.now()) return refused(`this key expired at ${record.expires}`);
    let team: TeamRecord | undefined;
    if (record.team_id !== undefined) {
      team = teams?.get(record.team_id);
      if (team === undefined) return refused(`this key's team "${record.team_id}" no longer exists`);
      if (team.blocked) return refused(`this key's team "${record.team_id}" is blocked`);
    }
    const perMinute = record.rpm_limit ?? team?.rpm_limit;
    const concurrent = record.max_parallel_requests ?? team?.max_parallel_requests;
    return {
      owner: record.token,
      admin: false,
      access: effectiveAccess([record.object_permission, team?.object_permission], resolveServer),
      limits: { ...(perMinute === undefined ? {} : { perMinute }), ...(concurrent === undefined ? {} : { concurrent }) },
      key: record,
    };
  }

  // Fingerprints looked up lately and not found: an unknown key is not looked up again at once.
  const recentMisses = new Map<string, number>();
  let refreshWindow = 0;
  let refreshesThisSecond = 0;
  const directory: KeyDirectory = {
    async authenticateFresh(presented) {
      const first = directory.authenticate(presented);
      if (!(first instanceof McpbusError) || keys === undefined || presented === undefined || presented === '' || keysMatch(presented, masterKey ?? '')) return first;
      const fingerprint = keyFingerprint(presented);
      // Known and refused (blocked, expired), or looked up a moment ago: nothing new to learn.
      if (keys.get(fingerprint) !== undefined || (recentMisses.get(fingerprint) ?? 0) > Date.now()) return first;
      // Unknown keys cost a bucket read each: a few a second at most, however many are tried.
      const second = Math.floor(Date.now() / 1_000);
      if (second !== refreshWindow) {
        refreshWindow = second;
        refreshesThisSecond = 0;
      }
      if (++refreshesThisSecond > REFRESHES_PER_SECOND) return first;
      if (await keys.refresh(fingerprint)) return directory.authenticate(presented);
      if (recentMisses.size > 10_000) recentMisses.clear();
      recentMisses.set(fingerprint, Date.now() + 1_000);
      return first;
    },
    authenticate(presented) {
      if (masterKey === undefined) return { owner: ownerOfKey(presented), admin: false, access: FULL_ACCESS, limits: {} };
      if (keysMatch(presented, masterKey)) return master(ownerOfKey(presented));
      const record = presented === undefined || presented === '' ? undefined : keys?.get(keyFingerprint(presented));
      if (record !== undefined) return virtualPrincipal(record);
      return refused(presented === undefined || presented === '' ? KEY_HINT : 'the key is not valid (unknown, revoked or mistyped)');
    },
    authorizeOwner(owner) {
      if (masterKey === undefined) return { owner, admin: false, access: FULL_ACCESS, limits: {} };
      if (owner === masterOwner) return master(owner);
      const record = keys?.get(owner);
      return record === undefined ? refused('the key that made this call has been deleted') : virtualPrincipal(record);
    },
    keys,
    teams,
    async close() {
      await Promise.allSettled([keys?.close(), teams?.close()]);
    },
  };
  return directory;
}
