import type { ProgressEvent, ProgressUpdate } from '@mcpbus/protocol';

/**
 * Where a parked call's progress goes. The upstream call is one request with one progress token,
 * but its client follows it through several requests: the first, then a retry per input round,
 * each with a call id of its own, and the ingress answering a request watches only that request's
 * events subject. So the progress goes to the request waiting on the call now: numbered from 1
 * for each, as for any call, and counted so that request's reply can say how many came before it.
 */
export interface ParkedProgress {
  /** The upstream's progress token for the whole call. */
  readonly token: string;
  /** Takes the upstream's progress notifications. */
  readonly onProgress: (update: ProgressUpdate) => void;
  /**
   * From now on, progress goes to request `callId`; `undefined` when that request's client
   * wants none (its updates are dropped).
   */
  follow(callId: string | undefined): void;
  /** Progress events published for the current request so far: its reply's `events`. */
  published(): number;
}

/**
 * Starts with the call's first request (`firstCallId`, which wants progress or not). The upstream
 * is always given a token: whether the client wants progress is up to each request, and the
 * first may not while a later one does.
 */
export function createParkedProgress(publish: (event: ProgressEvent) => void, firstCallId: string, firstWantsProgress: boolean): ParkedProgress {
  let target = firstWantsProgress ? firstCallId : undefined;
  let seq = 0;
  return {
    token: `mcpbus-${firstCallId}`,
    onProgress(update) {
      if (target === undefined) return;
      seq += 1;
      publish({ v: 1, type: 'progress', callId: target, seq, ...update });
    },
    follow(callId) {
      target = callId;
      seq = 0;
    },
    published: () => seq,
  };
}
