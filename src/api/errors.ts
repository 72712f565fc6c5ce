/** The one error envelope of the API, and how each code maps to HTTP and to the CLI's exit status. */

export const ERROR_CODES = [
  'bad_request',
  'not_found',
  'already_exists',
  'not_running',
  'unavailable',
  'operation_failed',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorEnvelope {
  code: ErrorCode;
  message: string;
  hint?: string;
  opId?: string;
}

export const HTTP_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  already_exists: 409,
  not_running: 409,
  unavailable: 503,
  operation_failed: 500,
  internal: 500,
};

/** Exit status of `banger` for each code. 2 is also used for usage errors. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  operation_failed: 1,
  bad_request: 2,
  not_found: 3,
  already_exists: 4,
  unavailable: 5,
  not_running: 6,
  internal: 70,
};

export class BangerError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  opId?: string;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; opId?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'BangerError';
    this.code = code;
    if (opts.hint !== undefined) this.hint = opts.hint;
    if (opts.opId !== undefined) this.opId = opts.opId;
  }

  toEnvelope(): ErrorEnvelope {
    const env: ErrorEnvelope = { code: this.code, message: this.message };
    if (this.hint) env.hint = this.hint;
    if (this.opId) env.opId = this.opId;
    return env;
  }

  static fromEnvelope(env: ErrorEnvelope): BangerError {
    const code = (ERROR_CODES as readonly string[]).includes(env.code) ? env.code : 'internal';
    return new BangerError(code, env.message, { hint: env.hint, opId: env.opId });
  }
}

export const badRequest = (message: string, hint?: string) => new BangerError('bad_request', message, { hint });
export const notFound = (message: string, hint?: string) => new BangerError('not_found', message, { hint });
export const alreadyExists = (message: string, hint?: string) => new BangerError('already_exists', message, { hint });
export const notRunning = (message: string, hint?: string) => new BangerError('not_running', message, { hint });
export const unavailable = (message: string, hint?: string) => new BangerError('unavailable', message, { hint });
export const operationFailed = (message: string, hint?: string, cause?: unknown) =>
  new BangerError('operation_failed', message, { hint, cause });

/** Turns anything thrown into a BangerError (unknown errors become `internal`). */
export function toBangerError(err: unknown): BangerError {
  if (err instanceof BangerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BangerError('internal', message, { cause: err });
}
