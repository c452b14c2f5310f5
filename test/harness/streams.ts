import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createSubjects } from '@mcpbus/protocol';
import { NATS_URL } from './paths.js';

/**
 * Removes a test gateway's JetStream streams (its submissions and its KV buckets of keys, teams
 * and servers): the machine's NATS server outlives the test run.
 */
export async function deleteSubmitStream(subjectRoot: string, natsUrl: string = NATS_URL): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: 'mcpbus-test-cleanup' });
  try {
    const jsm = await jetstreamManager(nc);
    const subjects = createSubjects(subjectRoot);
    const streams = [subjects.submitStream, ...Object.values(subjects.buckets).map((bucket) => `KV_${bucket}`)];
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
