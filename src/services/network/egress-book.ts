/**
 * What bridge mode knows about each running VM's egress, shared by the provider (which fills it at
 * attach) and the guest DNS server (which asks it who is asking and records what it decided): the
 * VM's address, its allowlist, and per name the answers allowed and the queries refused, with counts
 * and last times. Kept in memory: it describes the VM's current run.
 *
 * @module
 */
import type { AllowEntry } from '../../model/egress.js';

export interface NameRecord {
  name: string;
  count: number;
  last: string;
  /** Addresses the answers carried (allowed names). */
  addresses?: string[];
}

export interface EgressEntry {
  vmId: string;
  vmName: string;
  key: string;
  ip: string;
  nat: boolean;
  allow?: readonly AllowEntry[];
  allowed: Map<string, NameRecord>;
  denied: Map<string, NameRecord>;
}

export class EgressBook {
  private readonly byVm = new Map<string, EgressEntry>();
  private readonly byAddr = new Map<string, EgressEntry>();

  set(e: Omit<EgressEntry, 'allowed' | 'denied'>): EgressEntry {
    const prior = this.byVm.get(e.vmId);
    if (prior) this.byAddr.delete(prior.ip);
    const keepLog = prior && prior.ip === e.ip;
    const entry: EgressEntry = { ...e, allowed: keepLog ? prior.allowed : new Map<string, NameRecord>(), denied: keepLog ? prior.denied : new Map<string, NameRecord>() };
    this.byVm.set(e.vmId, entry);
    this.byAddr.set(e.ip, entry);
    return entry;
  }

  get(vmId: string): EgressEntry | undefined {
    return this.byVm.get(vmId);
  }

  /** The VM a guest-side query came from. */
  byAddress(ip: string): EgressEntry | undefined {
    return this.byAddr.get(ip);
  }

  delete(vmId: string): void {
    const e = this.byVm.get(vmId);
    if (!e) return;
    this.byVm.delete(vmId);
    if (this.byAddr.get(e.ip) === e) this.byAddr.delete(e.ip);
  }

  note(e: EgressEntry, verdict: 'allowed' | 'denied', qname: string, addresses?: readonly string[]): void {
    const name = qname.toLowerCase().replace(/\.$/, '');
    const map = verdict === 'allowed' ? e.allowed : e.denied;
    const r = map.get(name) ?? { name, count: 0, last: '' };
    r.count += 1;
    r.last = new Date().toISOString();
    if (addresses && addresses.length > 0) r.addresses = [...new Set([...(r.addresses ?? []), ...addresses])];
    map.set(name, r);
  }
}
