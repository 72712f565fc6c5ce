/** What a long operation gets to report progress and notice cancellation. */

export interface OpContext {
  readonly signal: AbortSignal;
  /** Runs fn as a named stage; emits stage start and done events with timing. */
  stage<T>(id: string, label: string, fn: () => Promise<T>): Promise<T>;
  /** Counts within the current stage (bytes, packages, files). */
  progress(current: number, total?: number, unit?: string): void;
  log(message: string, level?: 'info' | 'warn'): void;
}

/** A context that reports nothing: for tests and internal callers. */
export function quietContext(signal: AbortSignal = new AbortController().signal): OpContext {
  return {
    signal,
    stage: (_id, _label, fn) => fn(),
    progress: () => undefined,
    log: () => undefined,
  };
}

export function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) {
    const err = new Error('operation cancelled');
    err.name = 'AbortError';
    throw err;
  }
}
