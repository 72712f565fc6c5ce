/**
 * The DNS service of the daemon: the `vm` zone built from the VMs in the store (read only, rebuilt when
 * the store changed), served by a DnsListener on dns_listen_addr, started and stopped with the daemon;
 * and, once bridge mode is in use, the guests' listener on the bridge address (GuestDns).
 *
 * @module
 */
import type { DnsStatus, GuestDnsStatus } from '../../api/types.js';
import type { Logger } from '../../system/logger.js';
import type { VMRepo, VMRow } from '../../store/vms.js';
import { isPoolName } from '../../model/vm-name.js';
import { probeDns } from './probe.js';
import { GuestDns, type GuestDnsDeps } from './guest.js';
import { DnsListener, parseListenAddr, type ListenAddr } from './server.js';
import { ZONE, type ZoneRecords } from './zone.js';

/** The address `<name>.vm` resolves to: the guest's own address on a tap, else its forward's host address. */
export function zoneRecords(vms: readonly VMRow[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const vm of vms) {
    // The warm pool's build VMs are banger's own: no `.vm` name.
    if (vm.state !== 'running' || isPoolName(vm.name)) continue;
    const addr = vm.runtime.network === 'tap' ? vm.runtime.ip : vm.runtime.sshHost;
    if (addr) out.set(vm.name.toLowerCase(), addr);
  }
  return out;
}

/** How stale the records may be: far below what a resolver caches them for (RECORD_TTL seconds). */
const STAMP_CHECK_MS = 20;

export class DnsService {
  private readonly listener: DnsListener;
  private cache: { stamp: string; records: ZoneRecords } | undefined;
  private error: string | undefined;
  private checkedAt = 0;
  private guest: GuestDns | undefined;
  private guestError: string | undefined;
  private guestLink: string | undefined;

  constructor(
    private readonly repo: Pick<VMRepo, 'list' | 'changeStamp'>,
    private readonly listenAddr: string,
    private readonly logger: Logger,
  ) {
    this.listener = new DnsListener(() => this.records());
  }

  /**
   * The records, rebuilt from the store only when it changed; whether it changed is asked at most every
   * STAMP_CHECK_MS (a few microseconds each time, which adds up at tens of thousands of queries a second).
   */
  records(): ZoneRecords {
    const now = performance.now();
    if (this.cache && now - this.checkedAt < STAMP_CHECK_MS) return this.cache.records;
    this.checkedAt = now;
    const stamp = this.repo.changeStamp();
    if (this.cache?.stamp !== stamp) this.cache = { stamp, records: zoneRecords(this.repo.list()) };
    return this.cache.records;
  }

  /** Starts listening; a listener that cannot bind is logged and reported in status, never thrown. */
  async start(): Promise<void> {
    if (this.listenAddr === '') return;
    const at = parseListenAddr(this.listenAddr);
    if (!at) {
      this.error = `invalid dns_listen_addr "${this.listenAddr}"`;
      this.logger.warn('dns server not started', { error: this.error });
      return;
    }
    try {
      const bound = await this.listener.listen(at);
      this.error = undefined;
      this.logger.info('dns server listening', { addr: `${bound.host}:${bound.port}` });
    } catch (err) {
      this.error = `cannot listen on ${this.listenAddr}: ${(err as Error).message}`;
      this.logger.warn('dns server not started; serving without it', { error: this.error });
    }
  }

  /**
   * Starts the guests' listener (bridge mode, when the bridge is up). Unlike the host's, a guest
   * listener that cannot bind is an error: bridge-mode guests resolve only through it. Reported in
   * status either way.
   */
  async startGuest(deps: GuestDnsDeps, at: ListenAddr, link?: string): Promise<void> {
    if (link !== undefined) this.guestLink = link;
    if (this.guest) return;
    const guest = new GuestDns(deps);
    try {
      const bound = await guest.listen(at);
      this.guest = guest;
      this.guestError = undefined;
      this.logger.info('guest dns listening', { addr: `${bound.host}:${bound.port}` });
    } catch (err) {
      this.guestError = `cannot listen on ${at.host}:${at.port}: ${(err as Error).message}`;
      this.logger.warn('guest dns not started', { error: this.guestError });
      throw err;
    }
  }

  async stop(): Promise<void> {
    const guest = this.guest;
    this.guest = undefined;
    await Promise.all([this.listener.close(), guest?.close()]);
  }

  /** `host:port` it listens on, when it does. */
  addr(): string | undefined {
    const a = this.listener.address();
    return a ? `${a.host}:${a.port}` : undefined;
  }

  /** `host:port` the guests' listener listens on, when it does. */
  guestAddr(): string | undefined {
    const a = this.guest?.address();
    return a ? `${a.host}:${a.port}` : undefined;
  }

  private async guestStatus(): Promise<GuestDnsStatus | undefined> {
    const at = this.guest?.address();
    if (!at && this.guestError === undefined) return undefined;
    return {
      ...(at ? { addr: `${at.host}:${at.port}` } : {}),
      ...(this.guestError ? { error: this.guestError } : {}),
      answers: at ? await probeDns(at) : false,
      ...(this.guestLink ? { link: this.guestLink } : {}),
    };
  }

  async status(): Promise<DnsStatus> {
    const at = this.listener.address();
    const [answers, guest] = await Promise.all([at ? probeDns(at) : false, this.guestStatus()]);
    return {
      configured: this.listenAddr,
      ...(at ? { addr: `${at.host}:${at.port}` } : {}),
      ...(this.error ? { error: this.error } : {}),
      answers,
      records: this.records().size,
      zone: ZONE,
      ...(guest ? { guest } : {}),
    };
  }
}
