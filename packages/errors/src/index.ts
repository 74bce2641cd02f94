/**
 * The base of every error camrelay's packages throw. `code` is stable, for scripts, logs and
 * tests to match on (messages are for people and may change); `cause` keeps the error that
 * led to this one. Each package names its codes as a union, so a new code is a type change.
 */
export class CamrelayError<Code extends string = string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
    // "ConfigError", "EnvelopeError", …: each subclass's own name, without repeating it in each.
    this.name = new.target.name;
  }
}
