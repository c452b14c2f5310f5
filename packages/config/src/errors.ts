/** A config that cannot be used; `problems` lists every issue found, each as `"<path>: <message>"`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super(`invalid config:\n  - ${problems.join('\n  - ')}`, options);
    this.problems = Object.freeze([...problems]);
  }
}
