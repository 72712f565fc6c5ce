import type { DoctorCheck } from '../../api/types.js';
import { loadConfig } from '../../config/load.js';
import { fail, firstLine, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';
import { ipv4Forwarding } from '../../system/netdev.js';

/**
 * The ip_forward line of bridge mode: banger turns the host-wide setting on for VMs with --nat or
 * --allow and never turns it back off, since other software may rely on it by then.
 */
export function forwardingDetail(on: boolean | undefined): string {
  const state = on === undefined ? 'unknown (unreadable)' : on ? 'on' : 'off';
  return `net.ipv4.ip_forward is ${state}: bridge mode turns it on for VMs with --nat or --allow and leaves it on (host-wide; docker, libvirt and routers rely on it too); sysctl -w net.ipv4.ip_forward=0 turns it off`;
}

/** Whether config.toml asks for bridge mode (an unreadable config is the config check's row, not this one's). */
function bridgeConfigured(env: DoctorEnv): boolean {
  try {
    return loadConfig(env.layout.configFile, env.env).config.network_mode === 'bridge';
  } catch {
    return false;
  }
}

/**
 * nft: bridge mode keeps its egress, NAT and isolation rules in banger's own nftables tables and has no
 * other backend (no iptables). User mode does not use it. Missing nft fails when bridge mode is
 * configured, and warns otherwise.
 */
export async function checkNftables(env: DoctorEnv, forwarding: () => Promise<boolean> = () => ipv4Forwarding()): Promise<DoctorCheck> {
  const nft = env.which('nft');
  if (nft) {
    const out = await env.runTool(nft, ['--version']);
    if (out.code === 0) {
      const ok = `${firstLine(out) || 'nft'} (${nft}): bridge mode available`;
      if (!bridgeConfigured(env)) return pass('nftables', ok);
      return pass('nftables', ok, forwardingDetail(await forwarding().catch(() => undefined)));
    }
    return fail('nftables', [`${nft} --version failed: ${firstLine(out) || `exit ${out.code}`}`, 'bridge mode unavailable'], installCommand(['nftables'], env));
  }
  const details = ['nft not found: bridge mode unavailable (its egress, NAT and isolation rules need nftables; there is no iptables fallback)'];
  if (bridgeConfigured(env)) return fail('nftables', [...details, 'network_mode = "bridge" is set in config.toml'], installCommand(['nftables'], env));
  return warn('nftables', [...details, 'user mode (the default) does not need it'], installCommand(['nftables'], env));
}
