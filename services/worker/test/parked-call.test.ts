import { describe, expect, it } from 'vitest';
import type { McpbusError, ProgressEvent } from '@mcpbus/protocol';
import { createParkedCall } from '../src/interaction.js';
import { createParkedProgress } from '../src/parked-progress.js';

const elicit = (message: string) => ({ method: 'elicitation/create' as const, params: { message } });

/** A parked call whose states name their round, and the progress events it published. */
function parkedCall(firstWantsProgress = true) {
  const published: ProgressEvent[] = [];
  const progress = createParkedProgress((event) => published.push(event), 'first', firstWantsProgress);
  const abandoned: McpbusError[] = [];
  const parked = createParkedCall((round) => `state-of-round-${round}`, 5_000, progress, (reason) => abandoned.push(reason));
  return { parked, published, abandoned };
}

describe('a parked call', () => {
  it('names each round in its state, and takes answers only for the round it waits on', async () => {
    const { parked } = parkedCall();
    const first = parked.ask({ a1: elicit('one') });
    expect(await parked.next(1_000)).toEqual({ inputRequired: { inputRequests: { a1: elicit('one') }, requestState: 'state-of-round-1' } });
    expect(() => parked.answer(2, { a1: 'x' })).toThrow(/^Stale requestState: it is for input round 2 of this call, which is at round 1 now/);
    parked.answer(1, { a1: 'yes', other: 'not asked' });
    expect(await first).toEqual({ a1: 'yes' });
    // The same state again, before the upstream asks anything else.
    expect(() => parked.answer(1, { a1: 'again' })).toThrow(/^Stale requestState: input round 1 of this call was answered already/);

    const second = parked.ask({ a2: elicit('two') });
    expect(await parked.next(1_000)).toMatchObject({ inputRequired: { requestState: 'state-of-round-2' } });
    // An old state is not applied to the round the call is in now.
    expect(() => parked.answer(1, { a1: 'replayed' })).toThrow(/round 1 of this call, which is at round 2 now/);
    parked.answer(2, { a2: 'done' });
    expect(await second).toEqual({ a2: 'done' });
  });

  it("sends the upstream's progress to the request that answered the latest round, numbered from 1 for each", async () => {
    const { parked, published } = parkedCall();
    parked.progress.onProgress({ progress: 0, message: 'asking' });
    const asked = parked.ask({ a1: elicit('one') });
    await parked.next(1_000);
    expect(parked.progress.token).toBe('mcpbus-first');
    expect(parked.progress.published()).toBe(1);

    parked.answer(1, { a1: 'yes' }, 'retry');
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

  it('drops progress while the request waiting on it wants none, and a refused answer does not take the progress over', async () => {
    const { parked, published } = parkedCall(false);
    parked.progress.onProgress({ progress: 0 });
    const asked = parked.ask({ a1: elicit('one') });
    await parked.next(1_000);
    expect(() => parked.answer(2, {}, 'intruder')).toThrow(/Stale requestState/);
    parked.answer(1, { a1: 'yes' });
    await asked;
    parked.progress.onProgress({ progress: 1 });
    expect(published).toEqual([]);
    expect(parked.progress.published()).toBe(0);
  });
});
