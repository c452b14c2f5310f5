import { describe, expect, it } from 'vitest';
import { pageOf } from '../src/pages.js';

const id = (s: string): string => s;

describe('list pages', () => {
  it('walks a list page by page', () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    const first = pageOf(items, undefined, 2, id);
    expect(first.page).toEqual(['a', 'b']);
    const second = pageOf(items, first.nextCursor, 2, id);
    expect(second.page).toEqual(['c', 'd']);
    const third = pageOf(items, second.nextCursor, 2, id);
    expect(third).toEqual({ page: ['e'] });
    expect(pageOf(['a', 'b'], undefined, 2, id)).toEqual({ page: ['a', 'b'] });
  });

  it('neither skips nor repeats items when others are added or removed', () => {
    const first = pageOf(['a', 'b', 'c', 'd'], undefined, 2, id);
    // 'a' went away and 'b2' arrived after the first page was served.
    expect(pageOf(['b', 'b2', 'c', 'd'], first.nextCursor, 2, id).page).toEqual(['b2', 'c']);
  });

  it('asks the client to start over when the page boundary item is gone, and refuses junk cursors', () => {
    const first = pageOf(['a', 'b', 'c'], undefined, 2, id);
    expect(() => pageOf(['a', 'c'], first.nextCursor, 2, id)).toThrow(/list again from the start/);
    expect(() => pageOf(['a'], 'not-a-cursor', 2, id)).toThrow(/Invalid cursor/);
    expect(() => pageOf(['a'], Buffer.from('{"after":1}').toString('base64url'), 2, id)).toThrow(/Invalid cursor/);
  });
});
