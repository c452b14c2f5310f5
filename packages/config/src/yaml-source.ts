import { parseDocument } from 'yaml';
import { messageOf } from '@mcpbus/protocol';

export type YamlResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problems: string[] };

/**
 * The YAML document as plain data with every mapping as a `Map`, so keys keep document order
 * (a plain object would move integer-like keys such as a server named `1` to the front).
 */
export function parseYaml(text: string, sourceName: string): YamlResult {
  // LiteLLM configs in the wild use `<<:` merge keys, a YAML 1.1 feature off by default.
  const doc = parseDocument(text, { merge: true });
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((err) => `${locate(sourceName, err.linePos?.[0])}: ${firstLine(err.message)}`) };
  }
  try {
    // Default maxAliasCount stops alias bombs ("billion laughs") here with an error.
    return { ok: true, value: doc.toJS({ mapAsMap: true }) };
  } catch (err: unknown) {
    return { ok: false, problems: [`${sourceName}: ${messageOf(err)}`] };
  }
}

function locate(sourceName: string, pos: { line: number; col: number } | undefined): string {
  return pos === undefined ? sourceName : `${sourceName}:${pos.line}:${pos.col}`;
}

// The yaml library appends " at line L, column C:" and a source excerpt. The location is already in
// front, and the excerpt could show a secret written into the file, so only the first line is kept.
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}
