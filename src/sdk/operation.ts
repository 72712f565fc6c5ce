/** A long call in progress: await it for the result, iterate `events` for its stages and progress. */
import type { OpEvent } from '../api/types.js';
import { abortReason, sdkError } from './errors.js';

/** Ordered events, buffered until read; iteration ends when the operation does. */
class EventQueue implements AsyncIterable<OpEvent> {
  private readonly items: OpEvent[] = [];
  private waiting: (() => void) | undefined;
  private ended = false;

  push(ev: OpEvent): void {
    this.items.push(ev);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OpEvent> {
    for (;;) {
      const ev = this.items.shift();
      if (ev) {
        yield ev;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.waiting = r));
    }
  }
}

export interface CallOptions {
  /** Aborting it cancels the operation in the daemon when it can be cancelled, else stops waiting for it. */
  signal?: AbortSignal;
}

/**
 * The result of a long call (create, start, stop, delete, image build...). It is a promise of the result;
 * `events` yields the daemon's stage, progress and log events once each, up to the end (one reader).
 * `cancel()` aborts it, like the `signal` option.
 */
export class Operation<T> implements Promise<T> {
  readonly [Symbol.toStringTag] = 'Operation';
  readonly events: AsyncIterable<OpEvent>;
  private readonly result: Promise<T>;
  private readonly controller = new AbortController();

  constructor(work: (emit: (ev: OpEvent) => void, signal: AbortSignal) => Promise<T>, opts: CallOptions = {}) {
    const queue = new EventQueue();
    this.events = queue;
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.controller.signal]) : this.controller.signal;
    this.result = (async () => {
      try {
        if (signal.aborted) throw abortReason(signal);
        return await work((ev) => queue.push(ev), signal);
      } catch (err) {
        throw sdkError(err, signal);
      } finally {
        queue.end();
      }
    })();
    // The caller may only read events; an unhandled rejection must not end their process.
    this.result.catch(() => undefined);
  }

  cancel(reason?: unknown): void {
    this.controller.abort(reason);
  }

  then<R1 = T, R2 = never>(onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.result.then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.result.catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.result.finally(onfinally);
  }
}
