// Preloaded into a bench child (`--expose-gc --import tsx --import heap-probe.ts`): on SIGUSR2 it
// runs a full garbage collection and writes `process.memoryUsage()` to $MCPBUS_BENCH_HEAP_FILE,
// so the bench reads the live heap rather than whatever garbage the last burst left behind.
import { renameSync, writeFileSync } from 'node:fs';

/** What the probe writes; `seq` counts the reports, so the reader knows a new one arrived. */
export interface HeapReport {
  seq: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

const file = process.env['MCPBUS_BENCH_HEAP_FILE'];
if (file !== undefined) {
  let seq = 0;
  const collect = async (): Promise<void> => {
    const gc = (globalThis as { gc?: () => void }).gc;
    // A full collection, then two turns of the event loop (WeakRef targets touched in this turn
    // stay alive until it ends; FinalizationRegistry callbacks run as tasks), then another.
    gc?.();
    for (let i = 0; i < 2; i += 1) await new Promise((resolve) => setImmediate(resolve));
    gc?.();
    seq += 1;
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    const report: HeapReport = { seq, rss, heapUsed, heapTotal, external, arrayBuffers };
    writeFileSync(`${file}.tmp`, JSON.stringify(report));
    renameSync(`${file}.tmp`, file);
  };
  process.on('SIGUSR2', () => void collect());
}
