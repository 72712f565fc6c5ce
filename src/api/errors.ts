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
  /** The messages of the errors behind this one, outermost first (at most MAX_CAUSES, each shortened). */
  causes?: string[];
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

/** How many causes an envelope carries, and how long each may be: tool output never floods a client. */
export const MAX_CAUSES = 5;
export const MAX_CAUSE_CHARS = 300;

export class BangerError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  opId?: string;
  /** Causes received from the daemon (an error rebuilt from an envelope has no `cause` objects). */
  readonly causes?: string[];

  constructor(code: ErrorCode, message: string, opts: { hint?: string; opId?: string; cause?: unknown; causes?: string[] } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'BangerError';
    this.code = code;
    if (opts.hint !== undefined) this.hint = opts.hint;
    if (opts.opId !== undefined) this.opId = opts.opId;
    if (opts.causes !== undefined && opts.causes.length > 0) this.causes = opts.causes;
  }

  /** The cause messages: those received from the daemon, else this error's own cause chain. */
  causeMessages(): string[] {
    return this.causes ?? causeChain(this.cause);
  }

  toEnvelope(): ErrorEnvelope {
    const env: ErrorEnvelope = { code: this.code, message: this.message };
    if (this.hint) env.hint = this.hint;
    if (this.opId) env.opId = this.opId;
    const causes = this.causeMessages();
    if (causes.length > 0) env.causes = causes;
    return env;
  }

  static fromEnvelope(env: ErrorEnvelope): BangerError {
    const code = (ERROR_CODES as readonly string[]).includes(env.code) ? env.code : 'internal';
    const causes = Array.isArray(env.causes) ? env.causes.filter((c): c is string => typeof c === 'string').slice(0, MAX_CAUSES) : undefined;
    return new BangerError(code, env.message, { hint: env.hint, opId: env.opId, ...(causes ? { causes } : {}) });
  }
}

export const badRequest = (message: string, hint?: string) => new BangerError('bad_request', message, { hint });
export const notFound = (message: string, hint?: string) => new BangerError('not_found', message, { hint });
export const alreadyExists = (message: string, hint?: string) => new BangerError('already_exists', message, { hint });
export const notRunning = (message: string, hint?: string) => new BangerError('not_running', message, { hint });
export const unavailable = (message: string, hint?: string) => new BangerError('unavailable', message, { hint });
export const operationFailed = (message: string, hint?: string, cause?: unknown) =>
  new BangerError('operation_failed', message, { hint, cause });

/** One line per cause, outermost first: "Name: message", multi-line messages cut to their last lines. */
export function causeChain(cause: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  let c = cause;
  while (c !== undefined && c !== null && out.length < MAX_CAUSES && !seen.has(c)) {
    seen.add(c);
    out.push(shorten(describeCause(c)));
    c = c instanceof Error ? c.cause : undefined;
  }
  return out;
}

function describeCause(c: unknown): string {
  if (c instanceof Error) return `${c.name}: ${c.message}`;
  if (typeof c === 'string' || typeof c === 'number' || typeof c === 'boolean' || typeof c === 'bigint') return `${c}`;
  try {
    return JSON.stringify(c) ?? typeof c;
  } catch {
    return typeof c;
  }
}

function shorten(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const kept = lines.length > 4 ? [lines[0]!, '…', ...lines.slice(-3)] : lines;
  const one = kept.join(' | ');
  return one.length > MAX_CAUSE_CHARS ? `${one.slice(0, MAX_CAUSE_CHARS - 1)}…` : one;
}

/**
 * A failed host tool, recognised by shape (src/system/exec.ts's ExecError and ToolMissingError carry `tool`,
 * and ExecError its last output line), so this module needs nothing from src/system.
 */
export interface ToolFailure {
  missing: boolean;
  tool: string;
  lastLine: string;
}

export function toolFailureOf(err: unknown): ToolFailure | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { tool?: unknown; lastLine?: unknown };
  if (typeof e.tool !== 'string' || e.tool === '') return undefined;
  if (e.name === 'ToolMissingError') return { missing: true, tool: e.tool, lastLine: '' };
  if (e.name === 'ExecError') return { missing: false, tool: e.tool, lastLine: typeof e.lastLine === 'string' ? e.lastLine : '' };
  return undefined;
}

/** Turns anything thrown into a BangerError: failed host tools become `operation_failed`, the rest `internal`. */
export function toBangerError(err: unknown): BangerError {
  if (err instanceof BangerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  let c: unknown = err;
  for (let depth = 0; c instanceof Error && depth < MAX_CAUSES; depth++, c = c.cause) {
    const tool = toolFailureOf(c);
    if (!tool) continue;
    const what = tool.missing
      ? `${tool.tool} is not installed (not found on PATH)`
      : `${tool.tool} failed${tool.lastLine ? `: ${tool.lastLine}` : ''}`;
    return new BangerError('operation_failed', c === err ? what : `${message} (${what})`, {
      hint: tool.missing ? `install ${tool.tool}; banger doctor lists every tool banger needs` : 'rerun with --debug to see the causes',
      cause: err,
    });
  }
  return new BangerError('internal', message, { cause: err });
}
