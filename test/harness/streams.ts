import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createSubjects } from '@mcpbus/protocol';
import { NATS_URL } from './paths.js';

/** Removes a test gateway's JetStream stream: the machine's NATS server outlives the test run. */
export async function deleteSubmitStream(subjectRoot: string, natsUrl: string = NATS_URL): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: 'mcpbus-test-cleanup' });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(createSubjects(subjectRoot).submitStream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
