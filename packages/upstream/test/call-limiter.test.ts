import { describe, expect, it } from 'vitest';
import { createCallLimiter, type CallLimits } from '../src/call-limiter.js';

const ONE: CallLimits = { maxConcurrent: 1, maxQueued: 1 };
const wait = () => ({ signal: new AbortController().signal, waitMs: 5_000 });
const lane = (limiter: ReturnType<typeof createCallLimiter>) => [...limiter.lanes()].find((l) => l.server === 's');

describe('call limiter slots', () => {
  it('frees a slot when its work settles', async () => {
    const limiter = createCallLimiter();
    await limiter.run('s', ONE, wait(), () => Promise.resolve('done'));
    expect(lane(limiter)).toMatchObject({ running: 0, waiting: 0 });
  });

  it('keeps a kept slot taken after its work returns, until it is freed; the call in line then starts', async () => {
    const limiter = createCallLimiter();
    let free: () => void = () => undefined;
    await limiter.run('s', ONE, wait(), (slot) => {
      free = slot.keep();
      return Promise.resolve();
    });
    expect(lane(limiter)).toMatchObject({ running: 1, waiting: 0 });

    let started = false;
    const next = limiter.run('s', ONE, wait(), () => {
      started = true;
      return Promise.resolve();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(started).toBe(false);
    expect(lane(limiter)).toMatchObject({ running: 1, waiting: 1 });
    // Beyond the line: refused at once.
    await expect(limiter.run('s', ONE, wait(), () => Promise.resolve())).rejects.toMatchObject({ code: 'overloaded' });

    free();
    free();
    await next;
    expect(started).toBe(true);
    // Freed once: the handed-over slot was given back, and nothing went below zero.
    expect(lane(limiter)).toMatchObject({ running: 0, waiting: 0 });
  });

  it('keeps a slot whose work failed after keeping it', async () => {
    const limiter = createCallLimiter();
    let free: () => void = () => undefined;
    await expect(
      limiter.run('s', ONE, wait(), (slot) => {
        free = slot.keep();
        return Promise.reject(new Error('first step failed'));
      }),
    ).rejects.toThrow('first step failed');
    expect(lane(limiter)).toMatchObject({ running: 1 });
    free();
    expect(lane(limiter)).toMatchObject({ running: 0 });
  });
});
