import type { DoctorCheck } from '../../api/types.js';
import { firstLine, pass, warn } from '../check.js';
import type { DoctorEnv } from '../env.js';
import { installCommand } from '../hints.js';

/** nft (preferred) or iptables: needed only for opt-in NAT (--nat). */
export async function checkFirewall(env: DoctorEnv): Promise<DoctorCheck> {
  const nft = env.which('nft');
  if (nft) {
    const out = await env.runTool(nft, ['--version']);
    return pass('nat', `${firstLine(out) || 'nft'} (${nft})`);
  }
  const iptables = env.which('iptables');
  if (iptables) {
    const out = await env.runTool(iptables, ['--version']);
    return pass('nat', `${firstLine(out) || 'iptables'} (${iptables}; nft not found, using the iptables fallback)`);
  }
  return warn('nat', ['neither nft nor iptables found: VMs cannot get NAT (--nat)'], installCommand(['nftables'], env));
}
