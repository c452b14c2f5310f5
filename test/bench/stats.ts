import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

/** What the numbers were measured on. */
export function machineInfo(): string[] {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line !== undefined) model = line.split(':')[1]?.trim() ?? model;
  } catch {
    // Not Linux: os.cpus() is good enough.
  }
  return [
    `cpu:    ${model}, ${availableParallelism()} cores`,
    `memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `node:   ${process.version} (${process.platform}/${process.arch})`,
  ];
}

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, ms) a process has used so far, from /proc; undefined elsewhere. */
export function cpuTimeMs(pid: number): number | undefined {
  if (pid === process.pid) {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** The pid of a running process by its exact command name (read-only scan of /proc). */
export function findPid(comm: string): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) return Number(entry);
      } catch {
        // The process went away while scanning.
      }
    }
  } catch {
    // No /proc.
  }
  return undefined;
}

/** Busy CPU time of the whole machine (all cores, ms) from /proc/stat; undefined elsewhere. */
function machineBusyMs(): number | undefined {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const busy = fields.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0);
    return (busy * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/**
 * Measures the CPU share (percent of one core) each process used between start() and stop(),
 * plus `other`: what the rest of the machine used meanwhile (other people's builds skew numbers).
 */
export function cpuMeter(processes: Record<string, number | undefined>): { stop(): Record<string, number | undefined> } {
  const startedAt = performance.now();
  const machineBefore = machineBusyMs();
  const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, pid === undefined ? undefined : cpuTimeMs(pid)]));
  return {
    stop() {
      const wallMs = performance.now() - startedAt;
      const out: Record<string, number | undefined> = {};
      let ours = 0;
      for (const [name, pid] of Object.entries(processes)) {
        const was = before[name];
        const now = pid === undefined ? undefined : cpuTimeMs(pid);
        out[name] = was === undefined || now === undefined ? undefined : (100 * (now - was)) / wallMs;
        ours += out[name] ?? 0;
      }
      const machineNow = machineBusyMs();
      out['other'] = machineBefore === undefined || machineNow === undefined ? undefined : Math.max(0, (100 * (machineNow - machineBefore)) / wallMs - ours);
      return out;
    },
  };
}

/** Share of the whole machine (percent of all cores) busy over the next `ms`: is it quiet enough to measure? */
export async function machineBusyPercent(ms = 1_000): Promise<number | undefined> {
  const before = machineBusyMs();
  await new Promise((r) => setTimeout(r, ms));
  const after = machineBusyMs();
  return before === undefined || after === undefined ? undefined : (100 * (after - before)) / ms / availableParallelism();
}

export interface Row {
  metric: string;
  direct: number | undefined;
  gateway: number | undefined;
  digits?: number;
  /** `abs` (default): mcpbus − direct; `pct`: relative change. */
  delta?: 'abs' | 'pct' | 'none';
}

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

function deltaOf(row: Row, digits: number): string {
  if (row.direct === undefined || row.gateway === undefined || row.delta === 'none') return '';
  if (row.delta === 'pct') {
    if (row.direct === 0) return '';
    const pct = (100 * (row.gateway - row.direct)) / row.direct;
    return `${pct >= 0 ? '+' : ''}${pct.toFixed(0)}%`;
  }
  const diff = row.gateway - row.direct;
  return `${diff >= 0 ? '+' : ''}${diff.toFixed(digits)}`;
}

/** The comparison table: one row per metric, direct vs mcpbus and the difference. */
export function formatTable(rows: readonly Row[], headers: [string, string, string, string] = ['metric', 'direct', 'mcpbus', 'delta']): string {
  const cells = rows.map((r) => {
    const digits = r.digits ?? 2;
    return [r.metric, fmt(r.direct, digits), fmt(r.gateway, digits), deltaOf(r, digits)];
  });
  const width = Math.max(headers[0].length, ...cells.map((c) => (c[0] ?? '').length)) + 2;
  const line = (c: string[]): string => `${(c[0] ?? '').padEnd(width)}${(c[1] ?? '').padStart(10)}  ${(c[2] ?? '').padStart(10)}  ${(c[3] ?? '').padStart(9)}`.trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** Resident and peak resident memory of a process, KiB, from /proc/<pid>/status; undefined elsewhere. */
export function residentKiB(pid: number): { rssKiB: number; peakKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssKiB: field('VmRSS'), peakKiB: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** How many file descriptors a process holds open (sockets included); undefined elsewhere. */
export function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** This process's open-files limit (soft/hard), which children inherit; `ulimit -n`. */
export function fdLimit(): { soft: string; hard: string } | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line?.replace('Max open files', '').trim().split(/\s+/) ?? [];
    return soft === undefined || hard === undefined ? undefined : { soft, hard };
  } catch {
    return undefined;
  }
}
