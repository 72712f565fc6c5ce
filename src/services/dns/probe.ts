/** Whether a DNS listener answers: one UDP query for the zone's SOA, with a short timeout. */
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { ListenAddr } from './server.js';
import { ZONE } from './zone.js';

export function probeDns(at: ListenAddr, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const id = Math.floor(Math.random() * 0xffff);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('error', () => done(false));
    sock.on('message', (msg) => {
      try {
        const r = dnsPacket.decode(msg);
        if (r.id === id && r.type === 'response') done(true);
      } catch {
        /* not our answer; keep waiting */
      }
    });
    sock.send(dnsPacket.encode({ type: 'query', id, questions: [{ type: 'SOA', name: ZONE, class: 'IN' }] }), at.port, at.host);
  });
}
