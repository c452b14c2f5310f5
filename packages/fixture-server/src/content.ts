import { ProtocolError, ProtocolErrorCode, type Server } from '@modelcontextprotocol/server';
import { COUNTER_URI_TEMPLATE, counterOf, type Counters } from './counters.js';

/**
 * The fixture's resources, resource template, prompts and completions: enough of each for a
 * gateway to aggregate, namespace, page and read back.
 */
const STATIC_RESOURCES = [
  { uri: 'fixture://static/readme', name: 'readme', mimeType: 'text/plain', text: 'The fixture server, for mcpbus tests.' },
  { uri: 'fixture://static/logo', name: 'logo', mimeType: 'image/png', blob: Buffer.from('not really a png').toString('base64') },
  { uri: 'fixture://static/notes', name: 'notes', mimeType: 'text/markdown', text: '# Notes' },
] as const;

const PROMPTS = [
  { name: 'greeting', description: 'Greets someone by name.', arguments: [{ name: 'name', description: 'Who to greet', required: true }] },
  { name: 'plain', description: 'A prompt without arguments.' },
];

const NAMES = ['Ada', 'Alan', 'Barbara', 'Grace'];

function page<T>(items: readonly T[], cursor: string | undefined, pageSize: number): { page: T[]; nextCursor?: string } {
  const start = cursor === undefined ? 0 : Number(cursor);
  if (!Number.isSafeInteger(start) || start < 0 || start > items.length) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid cursor: ${cursor ?? ''}`);
  const end = pageSize === 0 ? items.length : Math.min(start + pageSize, items.length);
  return end < items.length ? { page: items.slice(start, end), nextCursor: String(end) } : { page: items.slice(start, end) };
}

/** Resources added by `grow`, kept per server instance like grown tools. */
export interface GrownResources {
  add(name: string): void;
}

/** Registers resources, templates, prompts and completions on a fixture server. */
export function registerContent(server: Server, pageSize: number, counters: Counters): GrownResources {
  const grown: { uri: string; name: string; mimeType: string; text: string }[] = [];
  const resources = (): readonly { uri: string; name: string; mimeType: string; text?: string; blob?: string }[] => [...STATIC_RESOURCES, ...grown];

  server.setRequestHandler('resources/list', (req) => {
    const { page: items, nextCursor } = page(resources(), req.params?.cursor, pageSize);
    const listed = items.map(({ uri, name, mimeType }) => ({ uri, name, mimeType }));
    return nextCursor === undefined ? { resources: listed } : { resources: listed, nextCursor };
  });
  server.setRequestHandler('resources/templates/list', () => ({
    resourceTemplates: [
      { uriTemplate: 'fixture://items/{id}', name: 'item', mimeType: 'text/plain', description: 'One item by id' },
      { uriTemplate: COUNTER_URI_TEMPLATE, name: 'counter', mimeType: 'text/plain', description: 'How often `touch` bumped a counter; subscribe to hear when it does' },
    ],
  }));
  server.setRequestHandler('resources/read', (req) => {
    const uri = req.params.uri;
    const item = /^fixture:\/\/items\/([^/]+)$/.exec(uri);
    if (item !== null) return { contents: [{ uri, mimeType: 'text/plain', text: `item ${decodeURIComponent(item[1] ?? '')}` }] };
    const counter = counterOf(uri);
    if (counter !== undefined) return { contents: [{ uri, mimeType: 'text/plain', text: `${counter} ${counters.read(counter)}` }] };
    const found = resources().find((r) => r.uri === uri);
    if (found === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Resource not found: ${uri}`);
    return { contents: [found.blob === undefined ? { uri, mimeType: found.mimeType, text: found.text ?? '' } : { uri, mimeType: found.mimeType, blob: found.blob }] };
  });
  server.setRequestHandler('prompts/list', (req) => {
    const { page: items, nextCursor } = page(PROMPTS, req.params?.cursor, pageSize);
    return nextCursor === undefined ? { prompts: items } : { prompts: items, nextCursor };
  });
  server.setRequestHandler('prompts/get', (req) => {
    if (req.params.name === 'plain') return { messages: [{ role: 'user', content: { type: 'text', text: 'A plain prompt.' } }] };
    if (req.params.name !== 'greeting') throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
    const name = req.params.arguments?.['name'];
    if (name === undefined) throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Missing required argument: name');
    return { description: 'A greeting', messages: [{ role: 'user', content: { type: 'text', text: `Please greet ${name}.` } }] };
  });
  server.setRequestHandler('completion/complete', (req) => {
    const prefix = req.params.argument.value.toLowerCase();
    const ref = req.params.ref;
    const candidates = ref.type === 'ref/prompt' && ref.name === 'greeting' ? NAMES : ref.type === 'ref/resource' && ref.uri === 'fixture://items/{id}' ? ['1', '2', '3', '10'] : [];
    const values = candidates.filter((v) => v.toLowerCase().startsWith(prefix));
    return { completion: { values, total: values.length, hasMore: false } };
  });

  return {
    add(name) {
      grown.push({ uri: `fixture://grown/${name}`, name, mimeType: 'text/plain', text: `grown ${name}` });
    },
  };
}
