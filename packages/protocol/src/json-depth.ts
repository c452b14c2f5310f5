/** JSON nested deeper than this is refused: recursive validators and serializers must not overflow on it. */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests objects and arrays deeper than `max` (walked iteratively, so a hostile value cannot overflow the walk itself). */
export function nestsDeeperThan(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  const stack: { item: unknown; depth: number }[] = [{ item: value, depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { item, depth } = next;
    if (item === null || typeof item !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push({ item: child, depth: depth + 1 });
    }
  }
  return false;
}
