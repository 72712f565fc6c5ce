/** Pieces shared by the pages. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { OpEvent } from '../../api/types.js';
import { api, ApiError, follow } from '../api.js';
import { bytes, ms } from '../format.js';

export function StateBadge({ state }: { state: string }) {
  return <span class={`state state-${state}`} data-state={state}>{state}</span>;
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : JSON.stringify(error);
  const hint = error instanceof ApiError ? error.hint : undefined;
  return (
    <div class="error" role="alert">
      {msg}
      {hint && <div class="hint">hint: {hint}</div>}
    </div>
  );
}

/** Loads once (and again when `deps` change); returns [value, error, reload]. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): [T | undefined, unknown, () => void] {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    fn().then(
      (v) => {
        if (live) {
          setValue(v);
          setError(undefined);
        }
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [value, error, () => setN((x) => x + 1)];
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <div class="card">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export interface StageRow {
  stage: string;
  label: string;
  done: boolean;
  elapsedMs?: number;
  current?: number;
  total?: number;
  unit?: string;
}

/** Folds operation events into a stage list. */
export function foldStages(rows: StageRow[], ev: OpEvent): StageRow[] {
  if (ev.type === 'stage') return [...rows, { stage: ev.stage, label: ev.label, done: false }];
  if (ev.type === 'stage_done') return rows.map((r) => (r.stage === ev.stage ? { ...r, done: true, elapsedMs: ev.elapsedMs } : r));
  if (ev.type === 'progress') {
    return rows.map((r) => (r.stage === ev.stage ? { ...r, current: ev.current, ...(ev.total !== undefined ? { total: ev.total } : {}), ...(ev.unit !== undefined ? { unit: ev.unit } : {}) } : r));
  }
  return rows;
}

export function Stages({ rows }: { rows: StageRow[] }) {
  return (
    <ol class="stages" data-testid="stages">
      {rows.map((r) => (
        <li key={r.stage} class={r.done ? 'done' : 'running'}>
          <span class="mark">{r.done ? '✓' : '…'}</span> {r.label} <span class="muted">{r.done ? ms(r.elapsedMs) : ''}</span>
          {!r.done && r.current !== undefined && (
            <span class="progress">
              {r.unit === 'bytes' || r.unit === undefined ? `${bytes(r.current)}${r.total ? ` / ${bytes(r.total)}` : ''}` : `${r.current}${r.total ? `/${r.total}` : ''} ${r.unit}`}
              {r.total ? <progress max={r.total} value={r.current} /> : null}
            </span>
          )}
        </li>
      ))}
    </ol>
  );
}

export interface Operation<T> {
  stages: StageRow[];
  /** Set while the operation runs. */
  opId: string | undefined;
  error: unknown;
  result: T | undefined;
  /** Starts an operation (`start` answers its id) and follows its stages to the end. */
  run: (start: () => Promise<string>) => Promise<T | undefined>;
  cancel: () => void;
}

/** One operation at a time, started from a page: its live stages, cancel, and how it ended. */
export function useOperation<T>(): Operation<T> {
  const [stages, setStages] = useState<StageRow[]>([]);
  const [opId, setOpId] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [result, setResult] = useState<T | undefined>(undefined);
  const run = async (start: () => Promise<string>): Promise<T | undefined> => {
    setError(undefined);
    setStages([]);
    setResult(undefined);
    try {
      const id = await start();
      setOpId(id);
      const r = await follow<T>(id, (ev) => setStages((rows) => foldStages(rows, ev)));
      setResult(r);
      return r;
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setOpId(undefined);
    }
  };
  const cancel = () => {
    if (opId) api.cancel(opId).catch((e: unknown) => setError(e));
  };
  return { stages, opId, error, result, run, cancel };
}

/** The stages of an operation started from a page, its cancel button while it runs, and its error. */
export function OperationView({ op, label }: { op: Operation<unknown>; label: string }) {
  return (
    <>
      {op.opId && (
        <div class="actions">
          <span class="muted">{label}</span>
          <button type="button" class="danger" onClick={op.cancel} data-action="cancel">
            Cancel
          </button>
        </div>
      )}
      <Stages rows={op.stages} />
      <ErrorBox error={op.error} />
    </>
  );
}
