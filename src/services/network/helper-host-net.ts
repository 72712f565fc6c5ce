/**
 * Bridge mode's host operations through banger's root helper (system mode: the daemon runs as its
 * owner, the helper as root). What needs privileges goes over the helper's socket; reading links and
 * routes needs none and stays in the daemon. nft must be installed where the helper runs, which is
 * this host.
 *
 * @module
 */
import * as netdev from '../../system/netdev.js';
import * as nft from '../../system/nft.js';
import type { HelperClient } from '../../system/root-helper/client.js';
import type { HostNet } from './bridge.js';

export function helperHostNet(client: HelperClient): HostNet {
  return {
    nftAvailable: nft.nftAvailable,
    nftApply: async (script) => {
      await client.call({ op: 'nft_apply', script });
    },
    nftListJson: async (what) => (await client.call<{ nftables: Record<string, unknown>[] } | null>({ op: 'nft_list', what: [...what] })) ?? undefined,
    ensureBridge: (name, addr, prefix) => client.call<boolean>({ op: 'ensure_bridge', name, addr, prefix }),
    addTap: async (name, bridge) => {
      await client.call({ op: 'add_tap', name, bridge });
    },
    deleteLink: async (name) => {
      await client.call({ op: 'delete_tap', name });
    },
    listLinks: netdev.listLinks,
    listRoutes: netdev.listRoutes,
    enableIpv4Forwarding: () => client.call<boolean>({ op: 'enable_ip_forward' }),
    wireResolver: (link, addr) => client.call<boolean>({ op: 'wire_resolver', link, addr }),
  };
}
