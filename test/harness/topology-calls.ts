import { randomBytes } from 'node:crypto';
import { FIXTURE_MAIN, REPO_ROOT } from './paths.js';
import { callTool, judge, reportOf, runCalls, runTask, type CallSpec, type LoadReport, type Target } from './load.js';

/** The master key of every topology the tests start. */
export const TOPOLOGY_KEY = 'sk-topology-test';

/** The fixture server as a stdio child of each worker and runner. */
export function fixtureStdio(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', FIXTURE_MAIN, '--stdio'], cwd: REPO_ROOT, ...extra };
}

let serial = 0;
/** A key no other call of this run uses (the ledger counts runs by it). */
export function uniqueKey(prefix: string): string {
  serial += 1;
  return `${prefix}-${randomBytes(3).toString('hex')}-${serial}`;
}

/** Kinds of ledger calls a workload mixes. */
export type LedgerCallKind = 'inline' | 'progress' | 'modern' | 'job' | 'task' | 'idem-job';

export interface LedgerCallOptions {
  /** Server name of the ledger mounted inline (default `led`) and as jobs (default `ledjob`). */
  inlineServer?: string;
  jobServer?: string;
  /** How long each call works upstream. */
  ms?: number;
  /** Progress steps of `progress` and `job` calls. */
  steps?: number;
  /** Deadline of inline calls (the server's timeout_ms plus the ingress's grace). */
  inlineDeadlineMs?: number;
  /** Deadline of job and task calls (a runner restart and a lapsed lock included). */
  jobDeadlineMs?: number;
  /** Every key a call used, by kind (to ask the ledger afterwards). */
  keys?: Map<string, LedgerCallKind>;
}

/**
 * One call of the ledger upstream through `target`: it must answer with its own key (and, with
 * progress, every step in order), or a clear error.
 */
export function ledgerCall(target: Target, kind: LedgerCallKind, options: LedgerCallOptions = {}): CallSpec {
  const key = uniqueKey(kind);
  options.keys?.set(key, kind);
  const ms = options.ms ?? 300;
  const steps = options.steps ?? 3;
  const inline = options.inlineServer ?? 'led';
  const jobs = options.jobServer ?? 'ledjob';
  const inlineDeadlineMs = options.inlineDeadlineMs ?? 15_000;
  const jobDeadlineMs = options.jobDeadlineMs ?? 60_000;
  switch (kind) {
    case 'inline':
      return { label: kind, key, deadlineMs: inlineDeadlineMs, run: async (signal) => judge(await callTool(target, `${inline}-work`, { key, ms }, { signal }), key) };
    case 'progress':
      return { label: kind, key, deadlineMs: inlineDeadlineMs, run: async (signal) => judge(await callTool(target, `${inline}-work`, { key, ms, steps }, { progress: true, signal }), key, steps) };
    case 'modern':
      return { label: kind, key, deadlineMs: inlineDeadlineMs, run: async (signal) => judge(await callTool(target, `${inline}-work`, { key, ms }, { modern: true, signal }), key) };
    case 'job':
      return { label: kind, key, deadlineMs: jobDeadlineMs, run: async (signal) => judge(await callTool(target, `${jobs}-work`, { key, ms, steps }, { progress: true, signal }), key, steps) };
    case 'idem-job':
      return { label: kind, key, deadlineMs: jobDeadlineMs, run: async (signal) => judge(await callTool(target, `${jobs}-work_idem`, { key, ms }, { signal }), key) };
    case 'task':
      return {
        label: kind,
        key,
        deadlineMs: jobDeadlineMs,
        run: async (signal) => {
          const { reply } = await runTask(target, `${inline}-work`, { key, ms }, signal);
          return judge(reply, key);
        },
      };
  }
}

/** A workload cycling through `kinds`. */
export function mixedWorkload(target: Target, kinds: readonly LedgerCallKind[], options: LedgerCallOptions = {}): (caller: number, n: number) => CallSpec {
  return (caller, n) => ledgerCall(target, kinds[(caller + n) % kinds.length] as LedgerCallKind, options);
}

/** `count` calls of each kind at once; every one must succeed (service is back, and whole). */
export async function serving(target: Target, kinds: readonly LedgerCallKind[], options: LedgerCallOptions & { count?: number } = {}): Promise<LoadReport> {
  const specs = kinds.flatMap((kind) => Array.from({ length: options.count ?? 2 }, () => ledgerCall(target, kind, { ms: 50, ...options })));
  return reportOf(await runCalls(specs, 2_000), Date.now());
}
