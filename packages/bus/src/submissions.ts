import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { messageOf, type Subjects } from '@mcpbus/protocol';

/** The durable consumer every worker pulls submissions from (one work queue, shared). */
const INTAKE = 'mcpbus-intake';
/** A resubmission with the same Nats-Msg-Id within this window is a duplicate. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;

export type { JsMsg } from '@nats-io/jetstream';

export interface SubmissionStreamOptions {
  /** Messages the stream holds at most; a publish beyond is refused (discard new). */
  maxMessages: number;
  /** How long an unprocessed submission is kept. */
  maxAgeMs: number;
}

/**
 * Creates (or brings up to date) the work-queue stream of durable submissions and its intake
 * consumer. Safe to call from every worker at start-up.
 */
export async function ensureSubmissionStream(nc: NatsConnection, subjects: Subjects, options: SubmissionStreamOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: subjects.submitStream,
    subjects: [subjects.submitAny()],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_msgs: options.maxMessages,
    max_age: nanos(options.maxAgeMs),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_msg_size: nc.info?.max_payload ?? 1024 * 1024,
  };
  try {
    await jsm.streams.add(config);
  } catch {
    // It exists with other limits (the config changed): bring it up to date.
    const { name, ...update } = config;
    await jsm.streams.update(name, update);
  }
  await ensureConsumer(jsm, subjects);
}

async function ensureConsumer(jsm: JetStreamManager, subjects: Subjects): Promise<void> {
  await jsm.consumers.add(subjects.submitStream, { durable_name: INTAKE, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 1_000 });
}

export interface SubmissionIntake {
  close(): Promise<void>;
}

/** What became of one submission: done with it (`ack`), try again later (`retry`), or drop it (`drop`). */
export type IntakeVerdict = 'ack' | 'retry' | 'drop';

/**
 * Pulls submissions and hands each to `handle`; its verdict acks, naks (redelivered after
 * `retryDelayMs`) or terminates the message. Handling errors nak it. If the consumer goes away
 * (JetStream restarted, the consumer deleted) the intake says so and starts again.
 */
export async function startSubmissionIntake(
  nc: NatsConnection,
  subjects: Subjects,
  handle: (msg: JsMsg) => Promise<IntakeVerdict>,
  options: { retryDelayMs: number; onError: (message: string) => void },
): Promise<SubmissionIntake> {
  const js = jetstream(nc);
  let closed = false;
  let messages: ConsumerMessages = await (await js.consumers.get(subjects.submitStream, INTAKE)).consume({ max_messages: 64 });
  const inFlight = new Set<Promise<void>>();
  const take = async (batch: ConsumerMessages): Promise<void> => {
    for await (const msg of batch) {
      const work = handle(msg).then(
        (verdict) => (verdict === 'ack' ? msg.ack() : verdict === 'drop' ? msg.term() : msg.nak(options.retryDelayMs)),
        (err: unknown) => {
          options.onError(messageOf(err));
          msg.nak(options.retryDelayMs);
        },
      );
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    }
  };
  const done = (async () => {
    while (!closed) {
      await take(messages).catch((err: unknown) => options.onError(`submission intake stopped: ${messageOf(err)}`));
      if (closed) return;
      options.onError('submission intake ended unexpectedly; starting it again');
      await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs));
      try {
        await ensureConsumer(await jetstreamManager(nc), subjects);
        messages = await (await js.consumers.get(subjects.submitStream, INTAKE)).consume({ max_messages: 64 });
      } catch (err: unknown) {
        options.onError(`submission intake could not start again: ${messageOf(err)}`);
      }
    }
  })();
  return {
    async close() {
      closed = true;
      await messages.close();
      await done.catch(() => undefined);
      await Promise.allSettled([...inFlight]);
    },
  };
}
