import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { apiKeyHeaders, apiKeyOf, busRequest, createInbox, decodeBody, encodeJson, errorReply, type NatsConnection } from '@mcpbus/bus';
import { ErrorCode, McpbusError, messageOf, ownerOfKey, type StreamDelivery, type StreamResumeRequest, type Subjects } from '@mcpbus/protocol';
import type { Logger } from 'pino';
import type { Credential } from './caller.js';
import { sendRpcError } from './http-replies.js';
import { SSE_HEADERS, sseEvent } from './sse.js';

/**
 * Resumable SSE call streams (2025-era sessions, SEP-1699). Every event of a call stream gets an
 * id naming the replica holding the stream, the stream and the event's sequence number; the
 * stream opens with a priming event (an id, no data) and a `retry`. When the client's connection
 * ends before the answer, the call goes on: its events are kept here, and the client resumes
 * with a GET carrying Last-Event-ID on any replica, which asks this one for the events after that
 * id over NATS (`streams.<ingress>.resume`) and relays them. A client not back within the window
 * is taken to be gone, and its call is cancelled.
 */

/** What the stream's `retry` field asks a client to wait before it resumes. */
export const STREAM_RETRY_MS = 1_000;
/** Events kept per stream for resuming, by count and by size; a client further behind cannot resume. */
const MAX_KEPT_EVENTS = 1_000;
const MAX_KEPT_BYTES = 8 * 1024 * 1024;
/**
 * An answer written to a connection (or handed to a resuming replica) may still not arrive: the
 * socket was dying, the resuming replica's client just left. The stream stays resumable this long
 * after, so that client can come back for it.
 */
const DELIVERED_KEEP_MS = 5_000;
const KEEPALIVE_MS = 15_000;
/** A resumed stream whose holder has said nothing for this long (it stopped) is ended. */
const HOLDER_SILENCE_MS = 3 * KEEPALIVE_MS;
/** How long the holder waits for a resuming replica to confirm it is still relaying. */
const RELAY_CHECK_MS = 5_000;
const RESUME_ASK_MS = 3_000;

const EVENT_ID = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/;

export interface CallStream {
  /** One event of the stream (a notification or a request for input), sent now or kept for a resume. */
  send(message: Record<string, unknown>): void;
  /** The call's answer, the last event: the stream ends with it. */
  finish(message: Record<string, unknown>): void;
  /** Ends the stream without an answer (its client cancelled the request). */
  end(): void;
  /** The upstream paused the call's stream: the client's connection is ended too, and it resumes. */
  pause(): void;
  /** The client is gone for good: its connection ended and it did not resume within the window (or this replica stopped). */
  onAbandoned(listener: () => void): void;
}

export interface ResumableStreams {
  /** Starts a call stream on `res` (a POST of a 2025 session) and sends its priming event. */
  open(res: ServerResponse, who: Credential, sessionId: string): CallStream;
  /**
   * Serves a GET with Last-Event-ID: the events after it, from whichever replica holds the
   * stream. False, having done nothing, when the id is not one of mcpbus's stream ids.
   */
  resume(res: ServerResponse, lastEventId: string, who: Credential, sessionId: string): boolean;
  /** Streams held here (calls whose client is connected or may still resume, answers not yet fetched). */
  size(): number;
  /** Stops: streams still running are ended, and their calls abandoned. */
  close(): void;
}

type Attachment = { res: ServerResponse } | { deliver: string };

/** One event, kept as the JSON text it is sent as. */
interface KeptEvent {
  seq: number;
  data: string;
  final?: true;
}

interface HeldStream {
  owner: string;
  sessionId: string;
  events: KeptEvent[];
  keptBytes: number;
  nextSeq: number;
  done: boolean;
  attached: Attachment | undefined;
  timer: NodeJS.Timeout | undefined;
  abandoned: (() => void)[];
}

const eventIdOf = (holder: string, stream: string, seq: number): string => `${holder}.${stream}.${seq}`;

/**
 * `windowMs`: how long a stream whose client left waits for it to resume, and keeps an answer
 * that came meanwhile.
 */
export function createResumableStreams(nc: NatsConnection, subjects: Subjects, windowMs: number, log: Logger): ResumableStreams {
  const ingressId = randomBytes(9).toString('base64url');
  const held = new Map<string, HeldStream>();

  function forget(streamId: string, stream: HeldStream): void {
    clearTimeout(stream.timer);
    if (held.get(streamId) === stream) held.delete(streamId);
  }

  function forgetIn(streamId: string, stream: HeldStream, ms: number, then?: () => void): void {
    clearTimeout(stream.timer);
    stream.timer = setTimeout(() => {
      forget(streamId, stream);
      then?.();
    }, ms);
    stream.timer.unref();
  }

  const abandon = (stream: HeldStream): void => {
    if (!stream.done) for (const listener of stream.abandoned) listener();
  };

  /** The client's connection ended: the call waits for it to come back, until the window ends. */
  function detach(streamId: string, stream: HeldStream): void {
    stream.attached = undefined;
    forgetIn(streamId, stream, windowMs, () => abandon(stream));
  }

  function deliver(subject: string, delivery: Omit<StreamDelivery, 'v'>): void {
    try {
      nc.publish(subject, encodeJson({ v: 1, ...delivery }));
    } catch {
      // The connection is closing: the resuming replica's watchdog ends its stream.
    }
  }

  /** Sends one event to wherever the client is connected; after the answer, the stream is kept a little while, then forgotten. */
  function emit(streamId: string, stream: HeldStream, event: KeptEvent): void {
    const at = stream.attached;
    if (at === undefined) return;
    if ('res' in at) {
      if (!at.res.destroyed) at.res.write(sseEvent(event.data, { id: eventIdOf(ingressId, streamId, event.seq) }));
      if (event.final === true) at.res.end();
    } else deliver(at.deliver, event);
    if (event.final === true) {
      stream.attached = undefined;
      forgetIn(streamId, stream, Math.min(DELIVERED_KEEP_MS, windowMs));
    }
  }

  function push(streamId: string, stream: HeldStream, message: Record<string, unknown>, final: boolean): void {
    if (stream.done) return;
    const event: KeptEvent = { seq: stream.nextSeq++, data: JSON.stringify(message), ...(final ? { final: true as const } : {}) };
    stream.events.push(event);
    stream.keptBytes += event.data.length;
    while (stream.events.length > 1 && (stream.events.length > MAX_KEPT_EVENTS || stream.keptBytes > MAX_KEPT_BYTES)) stream.keptBytes -= (stream.events.shift() as KeptEvent).data.length;
    if (final) stream.done = true;
    emit(streamId, stream, event);
  }

  /** Ends the client's current connection without the answer: it resumes (pause), another connection took over, or this replica stops. */
  function unattach(stream: HeldStream, why: 'paused' | 'superseded' | 'stopping'): void {
    const at = stream.attached;
    stream.attached = undefined;
    if (at === undefined) return;
    if ('res' in at) at.res.end();
    else deliver(at.deliver, { end: why });
  }

  // The replica holding a stream serves its resumes, from whichever replica the client reached.
  const resumes = nc.subscribe(subjects.streamResume(ingressId), {
    callback: (err, msg) => {
      if (err !== null) return;
      let reply: unknown;
      try {
        const request = decodeBody<StreamResumeRequest>(msg.data, 'StreamResumeRequest');
        const stream = held.get(request.stream);
        if (stream === undefined || stream.owner !== ownerOfKey(apiKeyOf(msg)) || stream.sessionId !== request.sessionId)
          throw new McpbusError(ErrorCode.StreamGone, `This stream cannot be resumed: its call ended more than ${windowMs / 1000} s ago, or it is not this session's`);
        const first = stream.events[0]?.seq ?? stream.nextSeq;
        if (request.after + 1 < first) throw new McpbusError(ErrorCode.StreamGone, `This stream cannot be resumed from event ${request.after}: only its last ${stream.events.length} events are kept`);
        if (stream.done && request.after + 1 >= stream.nextSeq) throw new McpbusError(ErrorCode.StreamGone, 'This stream has nothing more to send: its answer was its last event');
        unattach(stream, 'superseded');
        clearTimeout(stream.timer);
        stream.attached = { deliver: request.deliver };
        for (const event of stream.events) if (event.seq > request.after) emit(request.stream, stream, event);
        reply = { ok: true, result: {} };
      } catch (failure: unknown) {
        if (!(failure instanceof McpbusError)) log.debug({ err: messageOf(failure) }, 'malformed stream resume');
        reply = errorReply(failure instanceof McpbusError ? failure : new McpbusError(ErrorCode.BadRequest, 'malformed stream resume'));
      }
      msg.respond(encodeJson(reply));
    },
  });

  // Resuming replicas' own clients leaving: the holder starts its window.
  const detaches = nc.subscribe(subjects.streamDetach(ingressId), {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const request = decodeBody<StreamResumeRequest>(msg.data, 'StreamResumeRequest');
        const stream = held.get(request.stream);
        const at = stream?.attached;
        if (stream !== undefined && at !== undefined && 'deliver' in at && at.deliver === request.deliver && stream.owner === ownerOfKey(apiKeyOf(msg))) detach(request.stream, stream);
      } catch {
        // Malformed: nothing to detach.
      }
    },
  });

  // A local stream gets a comment now and then, so proxies do not time it out. A resumed one is
  // asked whether its replica still relays it: one that stopped, or whose client left unheard,
  // does not answer, and the holder's window starts.
  const keepalive = setInterval(() => {
    for (const [streamId, stream] of held) {
      const at = stream.attached;
      if (at === undefined) continue;
      if ('res' in at) {
        if (!at.res.destroyed) at.res.write(': keep-alive\n\n');
        continue;
      }
      nc.request(at.deliver, encodeJson({ v: 1, alive: true }), { timeout: RELAY_CHECK_MS }).catch(() => {
        if (stream.attached === at) detach(streamId, stream);
      });
    }
  }, KEEPALIVE_MS);
  keepalive.unref();

  return {
    open(res, who, sessionId) {
      const streamId = randomBytes(12).toString('base64url');
      const stream: HeldStream = { owner: who.owner, sessionId, events: [], keptBytes: 0, nextSeq: 1, done: false, attached: { res }, timer: undefined, abandoned: [] };
      held.set(streamId, stream);
      res.writeHead(200, SSE_HEADERS);
      // The priming event: an id to resume from before any other event came.
      res.write(`id: ${eventIdOf(ingressId, streamId, 0)}\nretry: ${STREAM_RETRY_MS}\ndata: \n\n`);
      const left = (): void => {
        const at = stream.attached;
        if (at !== undefined && 'res' in at && at.res === res) detach(streamId, stream);
      };
      res.on('close', left);
      // Gone while its request was read: that close will not come again.
      if (res.destroyed || res.closed) left();
      return {
        send: (message) => push(streamId, stream, message, false),
        finish: (message) => push(streamId, stream, message, true),
        end() {
          stream.done = true;
          unattach(stream, 'stopping');
          forget(streamId, stream);
        },
        pause() {
          if (stream.done || stream.attached === undefined) return;
          unattach(stream, 'paused');
          detach(streamId, stream);
        },
        onAbandoned: (listener) => stream.abandoned.push(listener),
      };
    },

    resume(res, lastEventId, who, sessionId) {
      const parsed = EVENT_ID.exec(lastEventId);
      if (parsed === null) return false;
      // Gone while its request was read: nothing to resume for.
      if (res.destroyed || res.closed) return true;
      const [, holder = '', streamId = '', seq = '0'] = parsed;
      const inbox = createInbox();
      const headers = apiKeyHeaders(who.key);
      const request: StreamResumeRequest = { v: 1, stream: streamId, after: Number(seq), sessionId, deliver: inbox };
      const early: StreamDelivery[] = [];
      let ready = false;
      let ended = false;
      let watchdog: NodeJS.Timeout | undefined;
      const stop = (endResponse = true): void => {
        ended = true;
        clearTimeout(watchdog);
        sub.unsubscribe();
        if (endResponse && !res.writableEnded) res.end();
      };
      const watch = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => stop(), HOLDER_SILENCE_MS);
        watchdog.unref();
      };
      const relay = (delivery: StreamDelivery): void => {
        watch();
        if (delivery.alive === true) {
          res.write(': keep-alive\n\n');
          return;
        }
        // The ids keep naming the holder, so the client's next resume goes to it again.
        if (delivery.data !== undefined && delivery.seq !== undefined) res.write(sseEvent(delivery.data, { id: eventIdOf(holder, streamId, delivery.seq) }));
        if (delivery.final === true || delivery.end !== undefined) stop();
      };
      const sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err !== null || ended) return;
          let delivery: StreamDelivery;
          try {
            delivery = decodeBody<StreamDelivery>(msg.data, 'StreamDelivery');
          } catch {
            return;
          }
          // The holder checks that this replica still relays the stream.
          if (delivery.alive === true && msg.reply !== undefined) msg.respond(encodeJson({ v: 1, alive: true }));
          if (ready) relay(delivery);
          else early.push(delivery);
        },
      });
      res.on('close', () => {
        if (ended) return;
        // The client left again (perhaps before the holder answered): the holder waits for its
        // next resume. A holder that never attached this delivery ignores the detach.
        nc.publish(subjects.streamDetach(holder), encodeJson(request), headers === undefined ? undefined : { headers });
        stop();
      });
      busRequest(nc, subjects.streamResume(holder), request, { timeoutMs: RESUME_ASK_MS, what: 'resuming the stream', ...(headers === undefined ? {} : { headers }) }).then(
        () => {
          if (ended) return;
          res.writeHead(200, SSE_HEADERS);
          ready = true;
          watch();
          for (const delivery of early.splice(0)) if (!ended) relay(delivery);
        },
        (err: unknown) => {
          if (ended) return;
          stop(false);
          if (res.headersSent) return;
          if (err instanceof McpbusError && err.code === ErrorCode.StreamGone) return sendRpcError(res, err);
          if (err instanceof McpbusError && err.code === ErrorCode.Timeout)
            return sendRpcError(res, new McpbusError(ErrorCode.StreamGone, `This stream cannot be resumed right now: the gateway replica holding its call did not answer within ${RESUME_ASK_MS / 1000} s; try again`));
          log.debug({ err: messageOf(err) }, 'a stream resume found no holder');
          sendRpcError(res, new McpbusError(ErrorCode.StreamGone, 'This stream cannot be resumed: the gateway replica that held its call has stopped, so its outcome is unknown here (tasks/list shows calls that ran as jobs)'));
        },
      );
      return true;
    },

    size: () => held.size,

    close() {
      clearInterval(keepalive);
      resumes.unsubscribe();
      detaches.unsubscribe();
      for (const [streamId, stream] of held) {
        unattach(stream, 'stopping');
        forget(streamId, stream);
        // Nobody can resume these any more: their calls are cancelled rather than run for no one.
        abandon(stream);
      }
    },
  };
}
