import { randomUUID } from 'node:crypto';
import { createArgumentValidator } from '@mcpbus/catalog';
import type { McpbusConfig } from '@mcpbus/config';
import { apiKeyOf, trackConnection, decodeBody, encodeJson, ensureSubmissionStream, errorReply, listenForCancels, publishCallEnd, recordCall, startSubmissionIntake, type Msg, type NatsConnection, type SubmissionIntake, type Subscription } from '@mcpbus/bus';
import {
  ErrorCode,
  McpbusError,
  WORKER_QUEUE,
  API_KEY_HEADER,
  createSubjects,
  serverFromToken,
  type AuditOutcome,
  type CallToolRequest,
  type CatalogChanged,
  type ListItemsRequest,
  type ListToolsRequest,
  type ServerRpcRequest,
  type TaskCancelRequest,
  type TaskGetRequest,
  type TaskListRequest,
} from '@mcpbus/protocol';
import { connectRedis, createCallQueue, createKeyLimits, createTaskStore, jobKeys } from '@mcpbus/jobs';
import { activeSpan, registerRoleGauges, traceFields } from '@mcpbus/logging';
import { createCallLimiter, createCredentialPools, startServerPools, upstreamStates, type ServerSessions } from '@mcpbus/upstream';
import { allowsServer, allowsTool, startKeyDirectory, startServerDirectory, type Principal } from '@mcpbus/access';
import type { Logger } from 'pino';
import { createCatalogCache } from './catalog-cache.js';
import { listItems, runServerRpc } from './items.js';
import { outcomeOfStep, runCall, type CallInteractionDeps } from './run-call.js';
import { createCallLog, createParkedCalls, createPushAsker, createRequestStates } from './interaction.js';
import { createJobSubmitter } from './submit-job.js';
import { createSubmissionHandler } from './submissions.js';
import { createTaskRequests } from './task-requests.js';
import { startResourceSubscriptions } from './resource-subscriptions.js';
import { UNRESOLVED, countCall, traceRequest, traceSubmission } from './telemetry.js';

export interface StartWorkerOptions {
  config: McpbusConfig;
  nc: NatsConnection;
  log: Logger;
  /** Redis, for calls that run as jobs and for task requests; inline calls work without it. */
  redisUrl: string;
  /** Shown in logs and ping replies; random by default. */
  workerId?: string;
}

export interface WorkerHandle {
  readonly workerId: string;
  /** Whether it can serve calls: NATS is connected (Redis only matters for jobs and tasks). */
  ready(): boolean;
  /** Stops taking requests, waits for running calls (up to the drain timeout), closes upstreams. */
  close(): Promise<void>;
}

/**
 * A worker: answers list and call requests in the workers' queue group, keeps pooled upstream
 * sessions and a catalog per server, and listens for cancellations of the calls it runs.
 */
export async function startWorker(options: StartWorkerOptions): Promise<WorkerHandle> {
  const { config, nc } = options;
  const workerId = options.workerId ?? `worker-${randomUUID().slice(0, 8)}`;
  const log = options.log.child({ role: 'worker', workerId });
  const subjects = createSubjects(config.settings.subjectRoot);
  const natsState = trackConnection(nc);
  const catalog = createCatalogCache({ ttlMs: config.settings.catalogTtlMs, separator: config.settings.toolSeparator, log });
  const validator = createArgumentValidator();
  const directory = await startServerDirectory(nc, config, log);
  const keys = await startKeyDirectory(nc, config, log, (ref) => directory.resolveRef(ref));
  const announce = (server: string, kind: CatalogChanged['kind']): void => {
    if (kind === 'tools') catalog.invalidate(server);
    const changed: CatalogChanged = { v: 1, server, kind };
    nc.publish(subjects.catalogChanged(), encodeJson(changed));
  };
  const credentials = createCredentialPools(log);
  // A server added, changed or removed through the admin API changes every list it appears in.
  const sessions = await startServerPools(config, directory, log, {
    onListChanged: announce,
    onServerChanged: (server) => {
      credentials.retire(server);
      for (const kind of ['tools', 'resources', 'prompts'] as const) announce(server, kind);
    },
  });
  const limiter = createCallLimiter();
  // Redis being down must not stop inline calls: jobs and tasks answer 503 until it is back.
  const redis = await connectRedis(options.redisUrl, 'producer', log, false);
  const store = createTaskStore(redis.redis, config.settings.subjectRoot);
  const queue = createCallQueue(redis.redis, config.settings.subjectRoot);
  queue.on('error', (err: Error) => log.debug({ err: err.message }, 'job queue error'));
  const submitJob = createJobSubmitter({ config, store, queue, ready: redis.ready });
  // A running-call slot outlives any call it could count (a worker that dies holding one).
  const slotTtlMs = Math.max(config.settings.callTimeoutMs, ...directory.all().map((s) => s.timeoutMs)) + 60_000;
  const limits = createKeyLimits(redis.redis, config.settings.subjectRoot, { perMinute: config.settings.rateLimitPerMinute, concurrent: config.settings.maxConcurrentCallsPerKey }, slotTtlMs);
  const tasks = createTaskRequests(store, nc, subjects, log);
  // Server-to-client requests: sealed request states, and calls parked here while 2026 clients answer.
  const requestStates = createRequestStates(config);
  const ownerOfMsg = (msg: Pick<Msg, 'headers'>): string => {
    try {
      return authenticate(msg).owner;
    } catch {
      return '';
    }
  };
  const parkedCalls = createParkedCalls(nc, subjects, ownerOfMsg, log);
  /** What one call needs to ask its client for input, with the caller's key for forwarded retries. */
  const interactionFor = (req: CallToolRequest, owner: string, key: string | undefined): CallInteractionDeps => ({
    states: requestStates,
    inputWaitMs: config.settings.inputTimeoutMs,
    push: () => createPushAsker(nc, subjects, req.callId, owner, ownerOfMsg, () => Math.min(config.settings.inputTimeoutMs, req.deadlineAt - Date.now() - 100), log),
    log: createCallLog(nc, subjects, req.callId),
    park: (parked, abort) => parkedCalls.park(req.callId, owner, parked, abort),
    resume: async (retry, waitMs, signal) => {
      const { step, events } = await parkedCalls.resume(retry, waitMs, key, signal);
      return outcomeOfStep(step, events);
    },
  });
  const running = new Map<string, AbortController>();
  const unregisterGauges = registerRoleGauges('worker', { upstream: () => upstreamStates(sessions, limiter), inFlight: () => running.size, queue, queueKey: jobKeys(config.settings.subjectRoot).bullPrefix, queueReady: redis.ready });
  let listing = 0;
  let closing: Promise<void> | undefined;

  const respond = (msg: Msg, body: unknown): void => {
    if (msg.reply === undefined || msg.reply === '') return;
    const data = encodeJson(body);
    const limit = nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    if (data.length <= limit) {
      msg.respond(data);
      return;
    }
    log.warn({ bytes: data.length, limit }, 'reply larger than the NATS max_payload');
    const error = new McpbusError(
      ErrorCode.PayloadTooLarge,
      `the reply is ${data.length} bytes, more than the bus carries (NATS max_payload ${limit}); raise max_payload in the nats-server config`,
    );
    msg.respond(encodeJson(errorReply(error)));
  };

  /**
   * The bus is no way around auth: a request must carry a key (the master key or a virtual key,
   * when a master key is configured) in its Mcpbus-Api-Key header, as over HTTP, and gets the
   * same access as over HTTP.
   */
  const authenticate = (msg: Pick<Msg, 'headers'>): Principal => {
    const principal = keys.authenticate(apiKeyOf(msg));
    if (principal instanceof McpbusError) throw new McpbusError(principal.code, `${principal.message} (bus requests carry the key in the ${API_KEY_HEADER} header)`);
    return principal;
  };

  /** `authenticate`, for a request that may carry a key made a moment ago on another replica. */
  const authenticateFresh = async (msg: Pick<Msg, 'headers'>): Promise<Principal> => {
    const principal = await keys.authenticateFresh(apiKeyOf(msg));
    if (principal instanceof McpbusError) throw new McpbusError(principal.code, `${principal.message} (bus requests carry the key in the ${API_KEY_HEADER} header)`);
    return principal;
  };

  /** The sessions of the named servers (all of them when no names are given) that the caller may use. */
  const pick = (names: readonly string[] | undefined, principal: Principal): ServerSessions[] =>
    (names === undefined ? [...sessions.values()] : names.map((s) => sessions.get(s)).filter((s): s is ServerSessions => s !== undefined)).filter((s) => allowsServer(principal.access, s.server.name));
  /** A list's per-server deadline: the configured one, or less when the caller's comes sooner. */
  const listBudget = (deadlineAt: number): number => Math.max(1, Math.min(config.settings.listDeadlineMs, deadlineAt - Date.now() - 50));
  /** Runs request work that is not a tool call, counted so a drain waits for it. */
  async function counted<T>(work: () => Promise<T>): Promise<T> {
    listing += 1;
    try {
      return await work();
    } finally {
      listing -= 1;
    }
  }

  async function onList(msg: Msg): Promise<void> {
    const principal = await authenticateFresh(msg);
    const req = decodeBody<ListToolsRequest>(msg.data, 'ListToolsRequest');
    const listed = await counted(() => catalog.list(pick(req.servers, principal), listBudget(req.deadlineAt)));
    respond(msg, { ok: true, result: { ...listed, tools: listed.tools.filter((t) => allowsTool(principal.access, t.server, t.upstreamName)) } });
  }

  async function onItems(msg: Msg): Promise<void> {
    const principal = await authenticateFresh(msg);
    const req = decodeBody<ListItemsRequest>(msg.data, 'ListItemsRequest');
    respond(msg, { ok: true, result: await counted(() => listItems(req.kind, pick(req.servers, principal), config.settings.toolSeparator, listBudget(req.deadlineAt))) });
  }

  async function onServerRpc(msg: Msg): Promise<void> {
    const principal = await authenticateFresh(msg);
    const req = decodeBody<ServerRpcRequest>(msg.data, 'ServerRpcRequest');
    const server = sessions.get(req.server);
    if (!allowsServer(principal.access, req.server)) throw new McpbusError(ErrorCode.NotPermitted, `Server "${req.server}" is not permitted for this key`);
    if (server === undefined) throw new McpbusError(ErrorCode.UnknownServer, `No server "${req.server}" is configured`);
    respond(msg, { ok: true, result: await counted(() => runServerRpc(req, server, config.settings.toolSeparator, { owner: principal.owner, states: requestStates, inputWaitMs: config.settings.inputTimeoutMs })) });
  }

  async function onCall(msg: Msg): Promise<void> {
    const principal = await authenticateFresh(msg);
    const owner = principal.owner;
    const req = decodeBody<CallToolRequest>(msg.data, 'CallToolRequest');
    const server = sessions.get(req.server);
    if (!allowsServer(principal.access, req.server)) throw new McpbusError(ErrorCode.NotPermitted, `Tool ${req.name} is not permitted for this key`);
    if (server === undefined || serverFromToken(msg.subject.split('.').at(-1) ?? '') !== req.server)
      throw new McpbusError(ErrorCode.UnknownServer, `Unknown tool: ${req.name} (no server "${req.server}" is configured)`);
    const abort = new AbortController();
    running.set(req.callId, abort);
    activeSpan()?.updateName(`tools/call ${req.name}`);
    const callLog = log.child({ callId: req.callId, server: req.server, tool: req.name, ...traceFields() });
    const started = Date.now();
    let tool = UNRESOLVED;
    const audit = (outcome: AuditOutcome, errorCode?: string): void =>
      recordCall(nc, subjects, callLog, {
        callId: req.callId,
        owner,
        server: req.server,
        tool: req.name,
        outcome,
        durationMs: Date.now() - started,
        job: false,
        ...(errorCode === undefined ? {} : { errorCode }),
        ...(config.settings.auditArguments && req.arguments !== undefined ? { arguments: req.arguments } : {}),
      });
    let release: (() => void) | undefined;
    try {
      release = await limits.admit(owner, principal.limits);
      const outcome = await runCall(req, principal, server, abort.signal, {
        catalog,
        validator,
        // On the subject of the call the event names: a parked call reports to whichever request waits on it now.
        publishProgress: (event) => nc.publish(subjects.callEvents(event.callId), encodeJson(event)),
        submitJob,
        credentials,
        limiter,
        onResolved: (entry) => (tool = entry.upstreamName),
        interaction: interactionFor(req, owner, apiKeyOf(msg)),
      });
      countCall(req.server, tool, { outcome });
      if ('task' in outcome) {
        audit('queued');
        respond(msg, { ok: true, task: outcome.task });
      } else if ('inputRequired' in outcome) {
        respond(msg, { ok: true, inputRequired: outcome.inputRequired, events: outcome.events });
      } else {
        audit(outcome.result['isError'] === true ? 'tool_error' : 'ok');
        respond(msg, { ok: true, result: outcome.result, events: outcome.events });
      }
    } catch (err: unknown) {
      audit('error', err instanceof McpbusError ? err.code : ErrorCode.Internal);
      countCall(req.server, tool, { failure: err });
      if (err instanceof McpbusError) throw err;
      // Logged here, under the call's id; the caller hears no more than "internal".
      callLog.error({ err: err instanceof Error ? err.message : String(err) }, 'tools/call failed unexpectedly');
      throw new McpbusError(ErrorCode.Internal, 'internal error in worker', { cause: err });
    } finally {
      release?.();
      running.delete(req.callId);
    }
  }

  /** A task request answered from Redis; counted so a drain waits for it. */
  function taskRequest<T extends { deadlineAt?: number }>(schema: 'TaskGetRequest' | 'TaskListRequest' | 'TaskCancelRequest', answer: (req: T, owner: string) => Promise<unknown>) {
    return async (msg: Msg): Promise<void> => {
      const owner = (await authenticateFresh(msg)).owner;
      const req = decodeBody<T>(msg.data, schema);
      // Picked up after its asker stopped waiting (a backlog): nothing is done, a cancel included.
      if (req.deadlineAt !== undefined && req.deadlineAt <= Date.now()) throw new McpbusError(ErrorCode.Timeout, `the ${schema} reached its deadline before a worker could take it`);
      if (!redis.ready()) throw new McpbusError(ErrorCode.QueueUnavailable, 'The task store (Redis) cannot be reached; try again shortly');
      respond(msg, { ok: true, result: await counted(() => answer(req, owner)) });
    };
  }

  function handle(kind: string, work: (msg: Msg) => Promise<void>) {
    // Readiness pings are not worth a span each.
    const traced = kind !== 'ping';
    return (err: Error | null, msg: Msg): void => {
      if (err !== null) {
        log.error({ err: err.message }, `${kind} subscription failed`);
        return;
      }
      (traced ? traceRequest(kind, msg, () => work(msg)) : work(msg)).catch((failure: unknown) => {
        if (!(failure instanceof McpbusError)) log.error({ err: failure instanceof Error ? failure.message : String(failure) }, `${kind} failed unexpectedly`);
        respond(msg, errorReply(failure));
      });
    };
  }

  const subs: Subscription[] = [
    nc.subscribe(subjects.toolsList(), { queue: WORKER_QUEUE, callback: handle('tools/list', onList) }),
    nc.subscribe(subjects.toolsCallAny(), { queue: WORKER_QUEUE, callback: handle('tools/call', onCall) }),
    nc.subscribe(subjects.itemsList(), { queue: WORKER_QUEUE, callback: handle('items list', onItems) }),
    nc.subscribe(subjects.serverRpcAny(), { queue: WORKER_QUEUE, callback: handle('server request', onServerRpc) }),
    nc.subscribe(subjects.tasksGet(), { queue: WORKER_QUEUE, callback: handle('tasks/get', taskRequest('TaskGetRequest', (req: TaskGetRequest, owner) => tasks.get(req, owner))) }),
    nc.subscribe(subjects.tasksList(), { queue: WORKER_QUEUE, callback: handle('tasks/list', taskRequest('TaskListRequest', (req: TaskListRequest, owner) => tasks.list(req, owner))) }),
    nc.subscribe(subjects.tasksCancel(), { queue: WORKER_QUEUE, callback: handle('tasks/cancel', taskRequest('TaskCancelRequest', (req: TaskCancelRequest, owner) => tasks.cancel(req, owner))) }),
    nc.subscribe(subjects.workersPing(), { queue: WORKER_QUEUE, callback: handle('ping', (msg) => Promise.resolve(respond(msg, { ok: true, result: { workerId } }))) }),
  ];
  // Resource subscriptions: leases held here for clients' subscriptions, one upstream subscription per resource.
  const resourceSubscriptions = startResourceSubscriptions({ nc, subjects, workerId, log, leaseMs: config.settings.resourceLeaseMs, pool: (name) => sessions.get(name), authenticate, respond, handle, counted });
  subs.push(...resourceSubscriptions.subscriptions);
  // Any worker's upstream session may hear of a change; every worker's catalog must forget it.
  const changesSub = nc.subscribe(subjects.catalogChanged(), {
    callback: (err, msg) => {
      if (err !== null) return;
      try {
        const changed = decodeBody<CatalogChanged>(msg.data, 'CatalogChanged');
        if (changed.kind === 'tools') catalog.invalidate(changed.server);
      } catch {
        // A malformed broadcast changes nothing.
      }
    },
  });
  // Cancels are broadcast: only the worker running the call acts on one.
  const cancelSub = listenForCancels(nc, subjects, running, log);
  // Durable submissions (JetStream): a worker without JetStream still serves everything else.
  let intake: SubmissionIntake | undefined;
  try {
    await ensureSubmissionStream(nc, subjects, { maxMessages: config.settings.submitBacklogMax, maxAgeMs: config.settings.taskMaxTtlMs });
    const handleSubmission = createSubmissionHandler({
      config,
      sessions,
      store,
      run: { catalog, validator, publishProgress: () => undefined, submitJob, credentials },
      authenticate,
      waitingJobs: () => queue.getWaitingCount(),
      admit: (principal) => limits.admit(principal.owner, principal.limits),
      publishEnd: (event, replyTo) => publishCallEnd(nc, subjects, event, replyTo),
      log,
    });
    intake = await startSubmissionIntake(nc, subjects, (msg) => counted(() => traceSubmission(msg, () => handleSubmission(msg))), {
      retryDelayMs: 1_000,
      onError: (message) => log.warn({ err: message }, 'submission handling failed; it will be redelivered'),
    });
  } catch (err: unknown) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'durable submissions are off: the submissions stream or its consumer could not be set up (is JetStream enabled?)');
  }
  await nc.flush();
  log.info({ servers: [...sessions.keys()] }, 'worker ready');
  // Warm the pools and catalogs in the background so the first client does not pay for
  // spawning stdio servers and probing eras; failures here are retried on first use.
  void catalog.list([...sessions.values()], config.settings.listDeadlineMs).catch(() => undefined);

  async function drain(): Promise<void> {
    await Promise.allSettled([...subs.map((s) => s.drain()), intake?.close()]);
    const until = Date.now() + config.settings.drainTimeoutMs;
    while ((running.size > 0 || listing > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    if (running.size > 0) {
      log.warn({ calls: running.size }, 'drain timeout: cancelling calls still running');
      for (const abort of running.values()) abort.abort(new McpbusError(ErrorCode.Cancelled, 'the worker shut down before the call finished; its outcome is unknown'));
    }
    parkedCalls.close();
    resourceSubscriptions.close();
    cancelSub.unsubscribe();
    changesSub.unsubscribe();
    unregisterGauges();
    await sessions.close();
    await credentials.close();
    await Promise.allSettled([keys.close(), directory.close()]);
    await queue.close().catch(() => undefined);
    await redis.redis.quit().catch(() => redis.redis.disconnect());
    log.info('worker stopped');
  }

  return {
    workerId,
    ready: () => natsState.connected() && closing === undefined,
    close() {
      closing ??= drain();
      return closing;
    },
  };
}
