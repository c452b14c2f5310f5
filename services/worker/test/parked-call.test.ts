import { describe, expect, it } from 'vitest';
import type { McpbusError, ProgressEvent } from '@mcpbus/protocol';
import { createParkedCall } from '../src/interaction.js';
import { createParkedProgress } from '../src/parked-progress.js';

const elicit = (message: string) => ({ method: 'elicitation/create' as const, params: { message } });

/** A parked call, and the progress events it published. */
function parkedCall(firstWantsProgress = true) {
  const published: ProgressEvent[] = [];
  const progress = createParkedProgress((event) => published.push(event), 'first', firstWantsProgress);
  const abandoned: McpbusError[] = [];
  const parked = createParkedCall(() => 'state', 5_000, progress, (reason) => abandoned.push(reason));
  return { parked, published, abandoned };
}

describe('a parked call', () => {
  it("sends the upstream's progress to the request that answered the latest round, numbered from 1 for each", async () => {
    const { parked, published } = parkedCall();
    parked.progress.onProgress({ progress: 0, message: 'asking' });
    const asked = parked.ask({ a1: elicit('one') });
    await parked.next(1_000);
    expect(parked.progress.token).toBe('mcpbus-first');
    expect(parked.progress.published()).toBe(1);

    parked.answer({ a1: 'yes' }, 'retry');
    await asked;
    parked.progress.onProgress({ progress: 1 });
    parked.progress.onProgress({ progress: 2, total: 2 });
    expect(parked.progress.published()).toBe(2);
    expect(published).toEqual([
      { v: 1, type: 'progress', callId: 'first', seq: 1, progress: 0, message: 'asking' },
      { v: 1, type: 'progress', callId: 'retry', seq: 1, progress: 1 },
      { v: 1, type: 'progress', callId: 'retry', seq: 2, progress: 2, total: 2 },
    ]);
  });

  it('drops progress while the request waiting on it wants none', async () => {
    const { parked, published } = parkedCall(false);
    parked.progress.onProgress({ progress: 0 });
    const asked = parked.ask({ a1: elicit('one') });
    await parked.next(1_000);
    parked.answer({ a1: 'yes' });
    await asked;
    parked.progress.onProgress({ progress: 1 });
    expect(published).toEqual([]);
    expect(parked.progress.published()).toBe(0);
  });
});
