import { MAX_SERVER_NAME, isValidServerName } from '@mcpbus/protocol';

/**
 * Why `name` cannot be a server name, one message per broken rule (empty when it is fine). The
 * rules are `isValidServerName`'s, spelled out so the user learns which one failed. With no valid
 * separator configured, the separator rule is skipped rather than guessed.
 */
export function serverNameProblems(name: string, separator: string | undefined): string[] {
  const problems: string[] = [];
  if (name.length === 0) problems.push('server name must not be empty');
  if (name.length > MAX_SERVER_NAME) problems.push(`server name must be at most ${MAX_SERVER_NAME} characters`);
  if (!/^[A-Za-z0-9_.-]*$/.test(name)) problems.push('server name may only contain letters, digits, "_", "-" and "."');
  if (separator !== undefined && name.includes(separator)) {
    problems.push(`server name must not contain the tool separator "${separator}"`);
  }
  // What remains is a name that ends in the start of a multi-character separator ("gh_" with
  // "__"): "gh___tool" would split as "gh" + "_tool".
  if (problems.length === 0 && separator !== undefined && !isValidServerName(name, separator)) {
    problems.push(`server name must not end with a character of the tool separator "${separator}"`);
  }
  return problems;
}
