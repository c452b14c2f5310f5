// What the reference server serves: the tool, resource and prompt names and the contents that the
// conformance suite's server scenarios ask for (each scenario's "Server Implementation
// Requirements"). Data only; reference-server.ts wires it to the SDK.
import type { CallToolResult, GetPromptResult, Prompt, ReadResourceResult, Resource, Tool } from '@modelcontextprotocol/server';

/** A 1×1 PNG: one white 8-bit greyscale pixel. */
export const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAsTj2FAAAAABJRU5ErkJggg==';

/** A WAV file of 8 silent 8-bit mono samples at 8 kHz, built from its header fields. */
export const WAV_BASE64 = ((): string => {
  const samples = 8;
  const wav = Buffer.alloc(44 + samples, 0x80);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + samples, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(8000, 24); // sample rate
  wav.writeUInt32LE(8000, 28); // byte rate
  wav.writeUInt16LE(1, 32); // block align
  wav.writeUInt16LE(8, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(samples, 40);
  return wav.toString('base64');
})();

const NO_ARGS = { type: 'object', properties: {} } as const;

function tool(name: string, description: string, inputSchema: Tool['inputSchema'] = NO_ARGS): Tool {
  return { name, description, inputSchema };
}

/** JSON Schema 2020-12 keywords the `json-schema-2020-12` scenario expects to survive a listing. */
const SCHEMA_2020_12: Tool['inputSchema'] = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

export const TOOLS: readonly Tool[] = [
  tool('test_simple_text', 'Returns one text block.'),
  tool('test_image_content', 'Returns one PNG image block.'),
  tool('test_audio_content', 'Returns one WAV audio block.'),
  tool('test_embedded_resource', 'Returns one embedded text resource.'),
  tool('test_multiple_content_types', 'Returns a text, an image and an embedded resource.'),
  tool('test_tool_with_logging', 'Sends three info log notifications while it runs.'),
  tool('test_tool_with_progress', 'Reports progress 0, 50 and 100 of 100 when asked for progress.'),
  tool('test_error_handling', 'Always fails with a tool error (isError: true).'),
  tool('test_sampling', 'Asks the client for an LLM completion of the prompt.', {
    type: 'object',
    properties: { prompt: { type: 'string', description: 'What to ask the LLM' } },
    required: ['prompt'],
  }),
  tool('test_elicitation', 'Asks the user for a username and an email address.', {
    type: 'object',
    properties: { message: { type: 'string', description: 'What to show the user' } },
    required: ['message'],
  }),
  tool('test_elicitation_sep1034_defaults', 'Elicits one field of each primitive type, each with a default.'),
  tool('test_elicitation_sep1330_enums', 'Elicits the five enum shapes of SEP-1330.'),
  tool('test_reconnection', 'Closes its SSE response stream before answering, so the client must resume it.'),
  { name: 'json_schema_2020_12_tool', description: 'Tool with JSON Schema 2020-12 features', inputSchema: SCHEMA_2020_12 },
];

export const text = (value: string): CallToolResult => ({ content: [{ type: 'text', text: value }] });

/** Results of the tools that need nothing from the client or the transport. */
export const STATIC_RESULTS: Readonly<Record<string, CallToolResult>> = {
  test_simple_text: text('This is a simple text response for testing.'),
  test_image_content: { content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }] },
  test_audio_content: { content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }] },
  test_embedded_resource: {
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
  },
  test_multiple_content_types: {
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
    ],
  },
  test_error_handling: { isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] },
};

export const ELICIT_CONTACT_SCHEMA = {
  type: 'object',
  properties: {
    username: { type: 'string', description: "User's response" },
    email: { type: 'string', description: "User's email address" },
  },
  required: ['username', 'email'],
} as const;

export const ELICIT_DEFAULTS_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', default: 'John Doe' },
    age: { type: 'integer', default: 30 },
    score: { type: 'number', default: 95.5 },
    status: { type: 'string', enum: ['active', 'inactive', 'pending'], default: 'active' },
    verified: { type: 'boolean', default: true },
  },
} as const;

export const ELICIT_ENUMS_SCHEMA = {
  type: 'object',
  properties: {
    untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: { type: 'string', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
    untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
    titledMulti: {
      type: 'array',
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
} as const;

export const RESOURCES: readonly Resource[] = [
  { uri: 'test://static-text', name: 'static-text', description: 'A fixed text resource', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A fixed PNG resource', mimeType: 'image/png' },
  { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource clients may subscribe to', mimeType: 'text/plain' },
];

/** As listed by resources/templates/list. */
export const RESOURCE_TEMPLATES = [
  { uriTemplate: 'test://template/{id}/data', name: 'template-data', description: 'Data for the given id', mimeType: 'application/json' },
] as const;

/** The contents of `uri`, or undefined when the server has no such resource. */
export function readResource(uri: string): ReadResourceResult['contents'][number] | undefined {
  if (uri === 'test://static-text') return { uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' };
  if (uri === 'test://static-binary') return { uri, mimeType: 'image/png', blob: PNG_BASE64 };
  if (uri === 'test://watched-resource') return { uri, mimeType: 'text/plain', text: 'Watched resource content' };
  const id = /^test:\/\/template\/([^/]+)\/data$/.exec(uri)?.[1];
  if (id !== undefined) return { uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) };
  return undefined;
}

export const PROMPTS: readonly Prompt[] = [
  { name: 'test_simple_prompt', description: 'A prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds the given resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt with an image' },
];

/** The messages of prompt `name` with `args`, or undefined when there is no such prompt. */
export function getPrompt(name: string, args: Record<string, string>): GetPromptResult | undefined {
  switch (name) {
    case 'test_simple_prompt':
      return { messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }] };
    case 'test_prompt_with_arguments':
      return {
        messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${args['arg1'] ?? ''}', arg2='${args['arg2'] ?? ''}'` } }],
      };
    case 'test_prompt_with_embedded_resource':
      return {
        messages: [
          {
            role: 'user',
            content: { type: 'resource', resource: { uri: args['resourceUri'] ?? 'test://example-resource', mimeType: 'text/plain', text: 'Embedded resource content for testing.' } },
          },
          { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
        ],
      };
    case 'test_prompt_with_image':
      return {
        messages: [
          { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
          { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
        ],
      };
    default:
      return undefined;
  }
}
