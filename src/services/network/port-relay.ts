/**
 * Published ports of bridge-mode VMs: a TCP relay run by the daemon. Each published port is a
 * listener on the host (127.0.0.1:HOSTPORT) that joins every connection to the guest's own address
 * and port on the bridge. No rule outside banger's own table and no host-wide sysctl is needed
 * (DNAT to a bridge address from the host's loopback would need route_localnet). Listeners and their
 * open connections go with the VM's stop or delete, and with the daemon; the daemon opens them again
 * at its next start for the VMs still running.
 *
 * @module
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { alreadyExists, operationFailed, unavailable } from '../../api/errors.js';
import type { PublishedPort } from '../../api/ports.js';

/** How long a relayed connection waits for the guest to accept it. */
const CONNECT_TIMEOUT_MS = 10_000;

export interface RelayTarget {
  vmId: string;
  /** For errors: the VM's name. */
  vmName: string;
  /** The host address the listener binds. */
  listenAddr: string;
  /** The guest's address on the bridge. */
  guestAddr: string;
}

interface Listener {
  fwd: PublishedPort;
  listenAddr: string;
  server: Server;
  open: Set<Socket>;
}

export class PortRelay {
  private readonly vms = new Map<string, Map<number, Listener>>();

  /** The VM's relayed ports, in the order they were opened. */
  list(vmId: string): PublishedPort[] {
    return [...(this.vms.get(vmId)?.values() ?? [])].map((l) => ({ ...l.fwd }));
  }

  /** The VMs with at least one relayed port. */
  vmIds(): string[] {
    return [...this.vms.keys()];
  }

  /**
   * Listens on listenAddr:hostPort and relays to guestAddr:guestPort. A host port the VM relays
   * already to the same guest port is kept; a taken host port is already_exists naming it.
   */
  async open(t: RelayTarget, fwd: PublishedPort): Promise<void> {
    const mine = this.vms.get(t.vmId);
    const prior = mine?.get(fwd.hostPort);
    if (prior && prior.fwd.guestPort === fwd.guestPort && prior.listenAddr === t.listenAddr) return;
    if (prior) await this.close(t.vmId, fwd.hostPort);
    const l: Listener = { fwd: { ...fwd }, listenAddr: t.listenAddr, server: createServer({ allowHalfOpen: true }), open: new Set() };
    l.server.on('connection', (client) => this.relay(l, client, t.guestAddr));
    await new Promise<void>((resolve, reject) => {
      l.server.once('error', reject);
      l.server.listen({ host: t.listenAddr, port: fwd.hostPort }, () => {
        l.server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw listenError(t, fwd, err);
    });
    l.server.on('error', () => undefined);
    const map = this.vms.get(t.vmId) ?? new Map<number, Listener>();
    map.set(fwd.hostPort, l);
    this.vms.set(t.vmId, map);
  }

  /** Stops relaying one host port of the VM and drops its open connections. */
  async close(vmId: string, hostPort: number): Promise<void> {
    const map = this.vms.get(vmId);
    const l = map?.get(hostPort);
    if (!map || !l) return;
    map.delete(hostPort);
    if (map.size === 0) this.vms.delete(vmId);
    for (const s of l.open) s.destroy();
    await new Promise<void>((resolve) => l.server.close(() => resolve()));
  }

  /** Stops every relayed port of the VM. */
  async closeVm(vmId: string): Promise<void> {
    for (const port of [...(this.vms.get(vmId)?.keys() ?? [])]) await this.close(vmId, port);
  }

  async closeAll(): Promise<void> {
    for (const id of this.vmIds()) await this.closeVm(id);
  }

  private relay(l: Listener, client: Socket, guestAddr: string): void {
    const guest = connect({ host: guestAddr, port: l.fwd.guestPort, timeout: CONNECT_TIMEOUT_MS, allowHalfOpen: true });
    for (const s of [client, guest]) {
      l.open.add(s);
      s.once('close', () => l.open.delete(s));
    }
    guest.once('connect', () => guest.setTimeout(0));
    guest.once('timeout', () => guest.destroy(new Error('the guest did not accept the connection in time')));
    // An error on either side ends both; a clean end of one direction is passed on by its pipe (half-close).
    guest.once('error', () => client.destroy());
    client.once('error', () => guest.destroy());
    guest.once('close', (hadError) => {
      if (hadError) client.destroy();
    });
    client.pipe(guest);
    guest.pipe(client);
  }
}

function listenError(t: RelayTarget, fwd: PublishedPort, err: NodeJS.ErrnoException): Error {
  const where = `host port ${t.listenAddr}:${fwd.hostPort} (published for guest port ${fwd.guestPort} of vm ${t.vmName})`;
  if (err.code === 'EADDRINUSE') {
    return alreadyExists(
      `${where} is taken`,
      `free it, or publish on another host port: banger vm forward ${t.vmName} --remove ${fwd.hostPort}, then banger vm forward ${t.vmName} OTHERPORT:${fwd.guestPort}`,
    );
  }
  if (err.code === 'EACCES') return unavailable(`${where} cannot be bound: ports below 1024 need root or CAP_NET_BIND_SERVICE`, `publish on a port above 1023: banger vm forward ${t.vmName} 8080:${fwd.guestPort}`);
  return operationFailed(`${where} cannot be bound: ${err.message}`, undefined, err);
}
