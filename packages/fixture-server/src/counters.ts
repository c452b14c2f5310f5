import { mkdirSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

/** URI template of the counters `touch` bumps: `fixture://counters/<name>`. */
export const COUNTER_URI_TEMPLATE = 'fixture://counters/{name}';
const COUNTER_URI = /^fixture:\/\/counters\/([A-Za-z0-9_]{1,32})$/;

export function counterUri(name: string): string {
  return `fixture://counters/${name}`;
}

/** The counter a URI names, if it names one. */
export function counterOf(uri: string): string | undefined {
  return COUNTER_URI.exec(uri)?.[1];
}

/**
 * Named counters that `touch` bumps, readable as resources. In memory they are the process's
 * own; under a state directory they live in files that every fixture process watches, so a
 * change made through one stdio child is seen (and notified) by its siblings, as with any
 * upstream whose resources are outside state.
 */
export interface Counters {
  read(name: string): number;
  bump(name: string): number;
  /** Called with a counter's name whenever it changes (in any process, under a state directory). */
  onChange(listener: (name: string) => void): () => void;
  close(): void;
}

function inMemory(): Counters {
  const counts = new Map<string, number>();
  const listeners = new Set<(name: string) => void>();
  return {
    read: (name) => counts.get(name) ?? 0,
    bump(name) {
      const next = (counts.get(name) ?? 0) + 1;
      counts.set(name, next);
      for (const listener of [...listeners]) listener(name);
      return next;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      listeners.clear();
    },
  };
}

function inDirectory(dir: string): Counters {
  mkdirSync(dir, { recursive: true });
  const listeners = new Set<(name: string) => void>();
  // One write can raise several events; changes of one counter within this window are told once.
  const pending = new Map<string, NodeJS.Timeout>();
  let watcher: FSWatcher | undefined;
  const read = (name: string): number => {
    try {
      return Number.parseInt(readFileSync(join(dir, name), 'utf8'), 10) || 0;
    } catch {
      return 0;
    }
  };
  const changed = (name: string | null): void => {
    if (name === null || !/^[A-Za-z0-9_]{1,32}$/.test(name) || pending.has(name)) return;
    pending.set(
      name,
      setTimeout(() => {
        pending.delete(name);
        for (const listener of [...listeners]) listener(name);
      }, 20).unref(),
    );
  };
  return {
    read,
    bump(name) {
      const next = read(name) + 1;
      writeFileSync(join(dir, name), String(next));
      return next;
    },
    onChange(listener) {
      watcher ??= watch(dir, (_event, filename) => changed(filename));
      watcher.unref();
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      watcher?.close();
      for (const timer of pending.values()) clearTimeout(timer);
      listeners.clear();
    },
  };
}

/** Counters in memory, or under `stateDir` shared with other fixture processes. */
export function createCounters(stateDir?: string): Counters {
  return stateDir === undefined ? inMemory() : inDirectory(stateDir);
}
