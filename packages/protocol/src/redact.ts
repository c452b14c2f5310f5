/**
 * A URL safe to print: credentials (user:password@), query and fragment removed. Unparsable
 * input is replaced wholesale, since it might be a secret itself.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** The message of anything thrown, for logs and error texts. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
