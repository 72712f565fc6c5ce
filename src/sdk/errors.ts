/** The SDK's errors: BangerError with the CLI's codes, plus the few kinds a program may want to catch apart. */
import { DaemonUnreachableError, OperationDetachedError } from '../api/client.js';
import { BangerError, ERROR_CODES, EXIT_CODES, type ErrorCode } from '../api/errors.js';

export { BangerError, DaemonUnreachableError, ERROR_CODES, EXIT_CODES, OperationDetachedError, type ErrorCode };

/** A command that ran past its `timeoutMs`: it was killed; what it printed until then is kept. */
export class ExecTimeoutError extends BangerError {
  constructor(
    readonly vm: string,
    readonly timeoutMs: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super('operation_failed', `command in vm ${vm} timed out after ${timeoutMs} ms`, { hint: 'raise timeoutMs, or run it in the background' });
    this.name = 'ExecTimeoutError';
  }
}

/** What an aborted call rejects with: the signal's reason (an AbortError DOMException unless the caller gave one). */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * Errors as the SDK throws them: a call aborted by its signal rejects with the signal's reason; an
 * unreachable daemon is a BangerError `unavailable`; BangerErrors and OperationDetachedError pass as they are.
 */
export function sdkError(err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted && !(err instanceof OperationDetachedError)) return abortReason(signal);
  if (err instanceof DaemonUnreachableError) {
    return new BangerError('unavailable', err.message, { hint: 'is bangerd running? banger daemon status tells', cause: err });
  }
  return err;
}
