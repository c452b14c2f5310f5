import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

/** How a process ended: its exit code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProcessSpec {
  /** `ingress-1`, `worker-2`, `upstream`, … */
  name: string;
  role: string;
  /** Arguments after `node` (the child is `process.execPath` with these). */
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where it serves: `/mcp` of an ingress or upstream, the health server of a worker or runner. */
  url: string;
  /** True once the process serves (checked after each start). */
  probe(): Promise<boolean>;
  /** Start it again after an exit nobody asked for (compose's `restart: unless-stopped`). */
  restart: boolean;
  /** Append the output of every run here. */
  logFile?: string;
}

/** One process of a topology, restarted by its supervisor when it dies unasked. */
export interface SupervisedProcess {
  readonly name: string;
  readonly role: string;
  readonly url: string;
  /** Pid of the current run (undefined while it is down). */
  readonly pid: number | undefined;
  /** Runs started so far (1 after the first start). */
  readonly starts: number;
  /** Every exit so far, oldest first. */
  readonly exits: readonly Exit[];
  running(): boolean;
  /** The last 128 KiB of its output (all runs). */
  output(): string;
  /**
   * Sends a signal as the outside world would (`kill -9`, an orchestrator's SIGTERM) and waits
   * for the exit; the supervisor then starts it again, as compose would.
   */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** Stops it for good (SIGTERM, then SIGKILL after `graceMs`); it is not restarted. */
  stop(graceMs?: number): Promise<Exit | undefined>;
  /** Starts it (after `stop`) and waits until it is ready. */
  start(timeoutMs?: number): Promise<void>;
  /** `stop` (graceful), then `start`. */
  restart(timeoutMs?: number): Promise<void>;
  /** Waits until the current (or next, when a restart is pending) run is ready. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** From now on an exit is final (a topology shutting down). */
  preventRestart(): void;
  /** Closes its log file; the process must be stopped. */
  dispose(): void;
}

const OUTPUT_LIMIT = 128 * 1024;
/** A run shorter than this that ends unasked counts toward a crash loop (longer restart delays). */
const STABLE_MS = 5_000;
const FIRST_RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 5_000;

const live = new Set<ChildProcess>();
// Whatever happens to the process that started them (a failed test, an exception, Ctrl-C), no
// child outlives it.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

const isDown = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function startSupervised(spec: ProcessSpec): SupervisedProcess {
  let child: ChildProcess | undefined;
  let exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  let stopped = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restartDelayMs = FIRST_RESTART_DELAY_MS;
  let starts = 0;
  let output = '';
  const exits: Exit[] = [];
  const log: WriteStream | undefined = spec.logFile === undefined ? undefined : createWriteStream(spec.logFile, { flags: 'a' });

  const record = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_LIMIT);
    log?.write(chunk);
  };

  function run(): void {
    restartTimer = undefined;
    const startedAt = Date.now();
    // Its own process group: a Ctrl-C at the terminal reaches the supervisor, which stops the
    // processes in order, not every process at once.
    const current = spawn(process.execPath, [...spec.args], { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = current;
    starts += 1;
    live.add(current);
    current.stdout?.on('data', record);
    current.stderr?.on('data', record);
    record(Buffer.from(`--- ${spec.name}: run ${starts}, pid ${current.pid ?? '?'}, ${new Date(startedAt).toISOString()}\n`));
    exited = new Promise<Exit>((resolve) => {
      current.once('exit', (code, signal) => {
        live.delete(current);
        const exit = { code, signal };
        exits.push(exit);
        record(Buffer.from(`--- ${spec.name}: pid ${current.pid ?? '?'} exited (${code ?? signal ?? '?'})\n`));
        resolve(exit);
        if (stopped || !spec.restart) return;
        restartDelayMs = Date.now() - startedAt < STABLE_MS ? Math.min(MAX_RESTART_DELAY_MS, restartDelayMs * 2) : FIRST_RESTART_DELAY_MS;
        restartTimer = setTimeout(run, restartDelayMs);
      });
      current.once('error', (err) => record(Buffer.from(`--- ${spec.name}: could not start: ${err.message}\n`)));
    });
  }

  async function waitReady(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const current = child;
      if (current !== undefined && !isDown(current)) {
        if (await spec.probe().catch(() => false)) {
          if (!isDown(current)) return;
        }
      } else if (stopped || (restartTimer === undefined && !spec.restart)) {
        throw new Error(`${spec.name} is not running (${exits.map((e) => e.code ?? e.signal).join(', ')}):\n${output.slice(-4_000)}`);
      }
      await sleep(100);
    }
    throw new Error(`${spec.name} was not ready within ${timeoutMs} ms:\n${output.slice(-4_000)}`);
  }

  run();

  return {
    name: spec.name,
    role: spec.role,
    url: spec.url,
    get pid() {
      return child === undefined || isDown(child) ? undefined : child.pid;
    },
    get starts() {
      return starts;
    },
    exits,
    running: () => child !== undefined && !isDown(child),
    output: () => output,
    async kill(signal = 'SIGKILL') {
      const current = child;
      if (current === undefined || isDown(current)) throw new Error(`${spec.name} is not running`);
      const done = exited;
      current.kill(signal);
      return done;
    },
    async stop(graceMs = 10_000) {
      stopped = true;
      clearTimeout(restartTimer);
      restartTimer = undefined;
      const current = child;
      if (current === undefined || isDown(current)) return undefined;
      const done = exited;
      const timer = setTimeout(() => current.kill('SIGKILL'), graceMs);
      current.kill('SIGTERM');
      const exit = await done;
      clearTimeout(timer);
      return exit;
    },
    async start(timeoutMs) {
      if (child !== undefined && !isDown(child)) throw new Error(`${spec.name} is already running`);
      stopped = false;
      clearTimeout(restartTimer);
      run();
      await waitReady(timeoutMs);
    },
    async restart(timeoutMs) {
      await this.stop();
      await this.start(timeoutMs);
    },
    waitReady,
    preventRestart() {
      stopped = true;
      clearTimeout(restartTimer);
      restartTimer = undefined;
    },
    dispose() {
      log?.end();
    },
  };
}
