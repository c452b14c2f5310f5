import type { Redis } from 'ioredis';
import {
  ErrorCode,
  McpbusError,
  TERMINAL_TASK_STATUSES,
  type ProgressUpdate,
  type TaskInfo,
  type TaskOutcome,
  type TaskStatus,
} from '@mcpbus/protocol';
import { jobKeys, type JobKeys } from './keys.js';

/** What a new task starts with. */
export interface NewTask {
  taskId: string;
  owner: string;
  server: string;
  tool: string;
  /** Kept this long after it ends. */
  ttlMs: number;
  /** Kept at least this long after each change while it has not ended (it may wait and run that long). */
  holdMs: number;
  pollIntervalMs: number;
  progressToken?: string | number;
  /** A subject the task's end is also published on (a durable submission's reply subject). */
  replyTo?: string;
}

/** A task as stored: what its owner sees, plus what only mcpbus needs. */
export interface TaskRecord {
  info: TaskInfo;
  owner: string;
  outcome?: TaskOutcome;
  progressToken?: string | number;
  replyTo?: string;
  /** Attempts that started running (a second start after a runner died means the outcome of the first is unknown). */
  runs: number;
}

export interface TaskStart {
  /** The task's status before this start: a terminal one means there is nothing to run. */
  status: TaskStatus;
  /** Attempts started, this one included. */
  runs: number;
  /** Progress events already published for the task. */
  events: number;
}

/** Durable task state in Redis, shared by every worker, runner and (through them) ingress. */
export interface TaskStore {
  /** Creates the task (working, created `now`); false, with nothing written, when a task with that id exists. */
  create(task: NewTask, now?: number): Promise<boolean>;
  /** The task, or undefined when it does not exist, has expired, or belongs to another owner. */
  get(taskId: string, owner?: string): Promise<TaskRecord | undefined>;
  /** Counts a start; undefined when the task is gone. */
  start(taskId: string, statusMessage?: string): Promise<TaskStart | undefined>;
  progress(taskId: string, update: ProgressUpdate, events: number): Promise<void>;
  /** Moves a task to a terminal status unless it is already in one; the task as it now stands. */
  finish(taskId: string, status: TaskStatus, outcome: TaskOutcome, statusMessage?: string): Promise<{ changed: boolean; record: TaskRecord | undefined }>;
  /** Forgets a task that never got a job (its enqueue failed). */
  remove(taskId: string, owner: string): Promise<void>;
  /** The owner's tasks, oldest first. */
  list(owner: string, cursor: string | undefined, limit: number): Promise<{ records: TaskRecord[]; nextCursor?: string }>;
}

const TERMINAL = [...TERMINAL_TASK_STATUSES];

// Expiry: while a task has not ended, every write keeps it for its `hold` (long enough to wait in
// the queue and run every attempt); once it ends, for its `ttl`. The owner's index lives as long
// as the longest-lived of its tasks; ids of expired tasks are dropped from it when listed.
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 1`;

const START = `
local f = redis.call('HMGET', KEYS[1], 'status', 'events', 'hold')
if not f[1] then return nil end
local terminal = { ${TERMINAL.map((s) => `${s} = true`).join(', ')} }
if terminal[f[1]] then return { f[1], 0, tonumber(f[2]) } end
local runs = redis.call('HINCRBY', KEYS[1], 'runs', 1)
redis.call('HSET', KEYS[1], 'updated', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'msg', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], f[3])
return { f[1], runs, tonumber(f[2]) }`;

const PROGRESS = `
local f = redis.call('HMGET', KEYS[1], 'status', 'hold')
if f[1] ~= 'working' and f[1] ~= 'input_required' then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'events', ARGV[2], 'updated', ARGV[3])
redis.call('PEXPIRE', KEYS[1], f[2])
return 1`;

// Returns whether the status changed, then the task's fields as they now stand (none when it is gone).
const FINISH = `
local f = redis.call('HMGET', KEYS[1], 'status', 'ttl')
if not f[1] then return { 0 } end
local terminal = { ${TERMINAL.map((s) => `${s} = true`).join(', ')} }
if terminal[f[1]] then return { 0, redis.call('HGETALL', KEYS[1]) } end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'outcome', ARGV[2], 'updated', ARGV[3], 'iserr', ARGV[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'msg', ARGV[4]) else redis.call('HDEL', KEYS[1], 'msg') end
redis.call('PEXPIRE', KEYS[1], f[2])
return { 1, redis.call('HGETALL', KEYS[1]) }`;

type Scripts = Redis & {
  mcpbusTaskCreate(task: string, index: string, ...args: (string | number)[]): Promise<number>;
  mcpbusTaskStart(task: string, now: number, message: string): Promise<[string, number, number] | null>;
  mcpbusTaskProgress(task: string, progress: string, events: number, now: number): Promise<number>;
  mcpbusTaskFinish(task: string, status: string, outcome: string, now: number, message: string, isError: string): Promise<[number, string[]?]>;
};

function scripts(redis: Redis): Scripts {
  const r = redis as Scripts;
  if (typeof r.mcpbusTaskCreate !== 'function') {
    redis.defineCommand('mcpbusTaskCreate', { numberOfKeys: 2, lua: CREATE });
    redis.defineCommand('mcpbusTaskStart', { numberOfKeys: 1, lua: START });
    redis.defineCommand('mcpbusTaskProgress', { numberOfKeys: 1, lua: PROGRESS });
    redis.defineCommand('mcpbusTaskFinish', { numberOfKeys: 1, lua: FINISH });
  }
  return r;
}

function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function recordOf(taskId: string, h: Record<string, string>): TaskRecord | undefined {
  if (h['status'] === undefined) return undefined;
  const info: TaskInfo = {
    taskId,
    status: h['status'] as TaskStatus,
    createdAt: Number(h['created']),
    lastUpdatedAt: Number(h['updated']),
    ttlMs: Number(h['ttl']),
    pollIntervalMs: Number(h['poll']),
    server: h['server'] ?? '',
    tool: h['tool'] ?? '',
    events: Number(h['events'] ?? 0),
  };
  if (h['msg'] !== undefined && h['msg'] !== '') info.statusMessage = h['msg'];
  if (h['iserr'] === '1') info.resultIsError = true;
  const progress = parseJson<ProgressUpdate>(h['progress']);
  if (progress !== undefined) info.progress = progress;
  const record: TaskRecord = { info, owner: h['owner'] ?? '', runs: Number(h['runs'] ?? 0) };
  const outcome = parseJson<TaskOutcome>(h['outcome']);
  if (outcome !== undefined) record.outcome = outcome;
  const token = parseJson<string | number>(h['token']);
  if (token !== undefined) record.progressToken = token;
  if (h['reply'] !== undefined && h['reply'] !== '') record.replyTo = h['reply'];
  return record;
}

/** Cursor of `list`: the creation time and id of the last task served. */
function encodeCursor(score: number, taskId: string): string {
  return Buffer.from(`${score}:${taskId}`).toString('base64url');
}

function decodeCursor(cursor: string): { score: number; taskId: string } {
  const [score, taskId] = Buffer.from(cursor, 'base64url').toString().split(':');
  if (score === undefined || taskId === undefined || !/^\d+$/.test(score)) throw new McpbusError(ErrorCode.InvalidParams, 'Invalid cursor');
  return { score: Number(score), taskId };
}

/** A TaskStore over `redis`, keyed under the deployment's subject root. */
export function createTaskStore(redis: Redis, subjectRoot: string): TaskStore {
  const keys: JobKeys = jobKeys(subjectRoot);
  const r = scripts(redis);

  const get = async (taskId: string, owner?: string): Promise<TaskRecord | undefined> => {
    const record = recordOf(taskId, await redis.hgetall(keys.task(taskId)));
    return record === undefined || (owner !== undefined && record.owner !== owner) ? undefined : record;
  };

  return {
    async create(task, now = Date.now()) {
      const hold = Math.max(task.holdMs, task.ttlMs);
      const fields: (string | number)[] = [
        'owner', task.owner, 'server', task.server, 'tool', task.tool, 'status', 'working',
        'created', now, 'updated', now, 'ttl', task.ttlMs, 'hold', hold, 'poll', task.pollIntervalMs, 'events', 0, 'runs', 0,
      ];
      if (task.progressToken !== undefined) fields.push('token', JSON.stringify(task.progressToken));
      if (task.replyTo !== undefined) fields.push('reply', task.replyTo);
      const created = await r.mcpbusTaskCreate(keys.task(task.taskId), keys.ownerTasks(task.owner), hold, now, task.taskId, ...fields);
      return created === 1;
    },
    get,
    async start(taskId, statusMessage = '') {
      const reply = await r.mcpbusTaskStart(keys.task(taskId), Date.now(), statusMessage);
      if (reply === null) return undefined;
      return { status: reply[0] as TaskStatus, runs: Number(reply[1]), events: Number(reply[2]) };
    },
    async progress(taskId, update, events) {
      await r.mcpbusTaskProgress(keys.task(taskId), JSON.stringify(update), events, Date.now());
    },
    async finish(taskId, status, outcome, statusMessage = '') {
      const isError = outcome.ok && outcome.result['isError'] === true ? '1' : '0';
      const [changed, flat = []] = await r.mcpbusTaskFinish(keys.task(taskId), status, JSON.stringify(outcome), Date.now(), statusMessage, isError);
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
      const record = recordOf(taskId, fields);
      // The index must outlive the task's new expiry, or tasks/list would lose it early.
      if (changed === 1 && record !== undefined) {
        const index = keys.ownerTasks(record.owner);
        if ((await redis.pttl(index)) < record.info.ttlMs) await redis.pexpire(index, record.info.ttlMs);
      }
      return { changed: changed === 1, record };
    },
    async remove(taskId, owner) {
      await redis.multi().del(keys.task(taskId)).zrem(keys.ownerTasks(owner), taskId).exec();
    },
    async list(owner, cursor, limit) {
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const index = keys.ownerTasks(owner);
      const records: TaskRecord[] = [];
      const min = after === undefined ? '-inf' : String(after.score);
      const batchSize = limit + 50;
      // Ties on the creation time come back in id order, so the cursor's id settles them.
      for (let offset = 0; records.length <= limit; ) {
        const batch = await redis.zrangebyscore(index, min, '+inf', 'WITHSCORES', 'LIMIT', offset, batchSize);
        const gone: string[] = [];
        for (let i = 0; i < batch.length && records.length <= limit; i += 2) {
          const taskId = batch[i] as string;
          if (after !== undefined && Number(batch[i + 1]) === after.score && taskId <= after.taskId) continue;
          const record = await get(taskId, owner);
          if (record === undefined) gone.push(taskId);
          else records.push(record);
        }
        // Expired tasks leave their ids behind; dropping them shifts the later ones back.
        if (gone.length > 0) await redis.zrem(index, ...gone);
        if (batch.length < batchSize * 2) break;
        offset += batchSize - gone.length;
      }
      const page = records.slice(0, limit);
      const tail = page.at(-1);
      return records.length > limit && tail !== undefined ? { records: page, nextCursor: encodeCursor(tail.info.createdAt, tail.info.taskId) } : { records: page };
    },
  };
}
