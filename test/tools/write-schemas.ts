// `pnpm schemas`: writes every bus body's JSON Schema to docs/schemas/v1/, named after its $id.
// packages/protocol/test/published-schemas.test.ts fails when the files and the code differ.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SCHEMAS } from '@mcpbus/protocol';
import { REPO_ROOT } from '../harness/paths.js';

for (const schema of Object.values(SCHEMAS)) {
  const file = resolve(REPO_ROOT, 'docs/schemas/v1', schema.$id.split('/').at(-1) ?? '');
  writeFileSync(file, `${JSON.stringify(schema, null, 2)}\n`);
  process.stdout.write(`${file}\n`);
}
