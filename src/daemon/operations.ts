/** Registry of long operations: begin, status, cancel, and an event stream clients can follow. */
import { randomBytes } from 'node:crypto';
import { BangerError, toBangerError } from '../api/errors.js';
import type { OpEvent, OperationSummary, OpState } from '../api/types.js';
import type { OpContext } from '../services/op-context.js';
import type { Logger } from '../system/logger.js';

type Listener = (ev: OpEvent) => void;

export class Operation {
  readonly id = `op-${randomBytes(6).toString('hex')}`;
  readonly events: OpEvent[] = [];
  readonly startedAt = new Date();
  state: OpState = 'running';
  endedAt?: Date;
  stage?: string;
  result?: unknown;
  error?: BangerError;
  private readonly controller = new AbortController();
  private readonly listeners = new Set<Listener>();
  readonly finished: Promise<void>;
  private finish!: () => void;

  constructor(
    readonly kind: string,
    readonly target: string | undefined,
    /** False when the work behind it cannot be interrupted: cancel() then refuses and it runs to its end. */
    readonly cancellable = true,
  ) {
    this.finished = new Promise((r) => (this.finish = r));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  emit(ev: OpEvent): void {
    this.events.push(ev);
    if (ev.type === 'stage') this.stage = ev.stage;
    for (const l of this.listeners) l(ev);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  cancel(): boolean {
    if (this.state !== 'running' || !this.cancellable) return false;
    this.controller.abort();
    return true;
  }

  complete(state: OpState, result?: unknown, error?: BangerError): void {
    this.state = state;
    this.endedAt = new Date();
    const elapsedMs = this.endedAt.getTime() - this.startedAt.getTime();
    if (error) {
      error.opId = this.id;
      this.error = error;
      this.emit({ type: 'error', at: this.endedAt.toISOString(), error: error.toEnvelope(), elapsedMs });
    } else {
      this.result = result;
      this.emit({ type: 'done', at: this.endedAt.toISOString(), result, elapsedMs });
    }
    this.listeners.clear();
    this.finish();
  }

  summary(): OperationSummary {
    const s: OperationSummary = { id: this.id, kind: this.kind, state: this.state, startedAt: this.startedAt.toISOString(), cancellable: this.cancellable };
    if (this.target) s.target = this.target;
    if (this.endedAt) s.endedAt = this.endedAt.toISOString();
    if (this.stage) s.stage = this.stage;
    if (this.state === 'succeeded') s.result = this.result;
    if (this.error) s.error = this.error.toEnvelope();
    return s;
  }

  context(): OpContext {
    const now = () => new Date().toISOString();
    return {
      signal: this.signal,
      stage: async (id, label, fn) => {
        const t0 = Date.now();
        this.emit({ type: 'stage', at: now(), stage: id, label });
        const out = await fn();
        this.emit({ type: 'stage_done', at: now(), stage: id, elapsedMs: Date.now() - t0 });
        return out;
      },
      progress: (current, total, unit) => {
        const ev: OpEvent = { type: 'progress', at: now(), stage: this.stage ?? '', current };
        if (total !== undefined) ev.total = total;
        if (unit !== undefined) ev.unit = unit;
        this.emit(ev);
      },
      log: (message, level = 'info') => this.emit({ type: 'log', at: now(), message, level, ...(this.stage ? { stage: this.stage } : {}) }),
    };
  }
}

export class OperationRegistry {
  private readonly ops = new Map<string, Operation>();
  private readonly watchers = new Set<(op: OperationSummary) => void>();

  constructor(
    private readonly logger: Logger,
    private readonly keepMs = 15 * 60_000,
  ) {}

  begin<T>(kind: string, target: string | undefined, fn: (ctx: OpContext) => Promise<T>, opts: { cancellable?: boolean } = {}): Operation {
    this.prune();
    const op = new Operation(kind, target, opts.cancellable ?? true);
    this.ops.set(op.id, op);
    this.logger.info('operation started', { opId: op.id, kind, target });
    const ctx = op.context();
    if (this.watchers.size > 0) this.announce(op);
    op.subscribe((ev) => {
      if (ev.type === 'stage' || ev.type === 'done' || ev.type === 'error') this.announce(op);
    });
    void (async () => {
      try {
        const result = await fn(ctx);
        op.complete('succeeded', result);
        this.logger.info('operation succeeded', { opId: op.id, kind, target });
      } catch (err) {
        const cancelled = op.signal.aborted;
        const be = cancelled && !(err instanceof BangerError) ? new BangerError('operation_failed', `${kind} cancelled`) : toBangerError(err);
        op.complete(cancelled ? 'cancelled' : 'failed', undefined, be);
        this.logger.warn('operation ended', { opId: op.id, kind, target, state: op.state, error: be.message, cause: be.cause });
      }
    })();
    return op;
  }

  /** Calls fn with an operation's summary when it starts, enters a stage and ends; returns the unsubscribe. */
  watch(fn: (op: OperationSummary) => void): () => void {
    this.watchers.add(fn);
    return () => {
      this.watchers.delete(fn);
    };
  }

  private announce(op: Operation): void {
    const summary = op.summary();
    for (const fn of this.watchers) {
      try {
        fn(summary);
      } catch {
        /* a watcher's failure does not touch the operation */
      }
    }
  }

  get(id: string): Operation | undefined {
    return this.ops.get(id);
  }

  list(): OperationSummary[] {
    this.prune();
    return [...this.ops.values()].map((o) => o.summary());
  }

  running(): Operation[] {
    return [...this.ops.values()].filter((o) => o.state === 'running');
  }

  async cancelAll(): Promise<void> {
    const running = this.running();
    for (const op of running) op.cancel();
    await Promise.all(running.map((o) => o.finished));
  }

  private prune(): void {
    const cutoff = Date.now() - this.keepMs;
    for (const [id, op] of this.ops) {
      if (op.endedAt && op.endedAt.getTime() < cutoff) this.ops.delete(id);
    }
  }
}
