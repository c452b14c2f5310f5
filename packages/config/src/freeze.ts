/** Freezes `value` and everything reachable from it; returns it for chaining. */
export function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  // Already-frozen parts (such as the defaults) are still walked: frozen does not mean deeply frozen.
  if (typeof value === 'object' && value !== null && !seen.has(value)) {
    seen.add(value);
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key], seen);
  }
  return value;
}
