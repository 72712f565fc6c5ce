/**
 * Live state from the daemon's server-sent events (GET /v1/events): VMs keyed by id and recent
 * operations, refreshed from the list routes once the stream is open, then kept current by the
 * events alone (no polling). Components subscribe with useLive().
 */
import { useEffect, useState } from 'preact/hooks';
import type { LiveEvent, OperationSummary, VMInfo } from '../api/types.js';
import { api } from './api.js';

export interface LiveState {
  connected: boolean;
  vms: Map<string, VMInfo>;
  ops: Map<string, OperationSummary>;
  /** Bumped on every change; also when an operation ends (lists of images/kernels may have changed). */
  version: number;
  opsEnded: number;
}

const state: LiveState = { connected: false, vms: new Map(), ops: new Map(), version: 0, opsEnded: 0 };
const listeners = new Set<() => void>();

function changed(): void {
  state.version++;
  for (const l of listeners) l();
}

async function refresh(): Promise<void> {
  const [vms, ops] = await Promise.all([api.get<VMInfo[]>('/vms'), api.get<OperationSummary[]>('/operations')]);
  state.vms = new Map(vms.map((v) => [v.id, v]));
  state.ops = new Map(ops.map((o) => [o.id, o]));
  changed();
}

function apply(ev: LiveEvent): void {
  if (ev.type === 'vm') state.vms.set(ev.vm.id, ev.vm);
  else if (ev.type === 'vm_deleted') state.vms.delete(ev.id);
  else {
    state.ops.set(ev.operation.id, ev.operation);
    if (ev.operation.state !== 'running') state.opsEnded++;
  }
  changed();
}

let source: EventSource | undefined;

export function connectLive(): void {
  if (source) return;
  source = new EventSource('/v1/events');
  source.onopen = () => {
    state.connected = true;
    void refresh();
  };
  source.onerror = () => {
    state.connected = false;
    changed();
  };
  for (const type of ['vm', 'vm_deleted', 'operation'] as const) {
    source.addEventListener(type, (e) => apply(JSON.parse((e as MessageEvent<string>).data) as LiveEvent));
  }
}

export function useLive(): LiveState {
  const [, setV] = useState(0);
  useEffect(() => {
    const l = () => setV(state.version);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return state;
}

export function vmByName(name: string): VMInfo | undefined {
  for (const v of state.vms.values()) if (v.name === name) return v;
  return undefined;
}
