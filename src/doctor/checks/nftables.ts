import type { DoctorCheck } from '../../api/types.js';
import { loadConfig } from '../../config/load.js';
import { fail, firstLine, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';

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
export async function checkNftables(env: DoctorEnv): Promise<DoctorCheck> {
  const nft = env.which('nft');
  if (nft) {
    const out = await env.runTool(nft, ['--version']);
    if (out.code === 0) return pass('nftables', `${firstLine(out) || 'nft'} (${nft}): bridge mode available`);
    return fail('nftables', [`${nft} --version failed: ${firstLine(out) || `exit ${out.code}`}`, 'bridge mode unavailable'], installCommand(['nftables'], env));
  }
  const details = ['nft not found: bridge mode unavailable (its egress, NAT and isolation rules need nftables; there is no iptables fallback)'];
  if (bridgeConfigured(env)) return fail('nftables', [...details, 'network_mode = "bridge" is set in config.toml'], installCommand(['nftables'], env));
  return warn('nftables', [...details, 'user mode (the default) does not need it'], installCommand(['nftables'], env));
}
