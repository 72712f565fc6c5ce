/**
 * nftables through the `nft` tool: scripts go in on stdin (`nft -f -`), reads come back as JSON.
 * Callers render scripts only for banger's own tables; this module runs them.
 *
 * @module
 */
import { ExecError, run, runUnchecked, which } from './exec.js';

export const NFT_INSTALL_HINT = 'install nftables: apt-get install -y nftables';

export function nftAvailable(): boolean {
  return which('nft') !== undefined;
}

/** Applies a script atomically (all of it or nothing). */
export async function nftApply(script: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: script });
}

/** Checks a script without applying it; returns nft's complaint, or undefined when it is valid. */
export async function nftCheck(script: string): Promise<string | undefined> {
  const r = await runUnchecked(['nft', '-c', '-f', '-'], { input: script });
  return r.code === 0 ? undefined : r.stderr.trim() || `nft exited with ${r.code}`;
}

/** `nft -j list ...` parsed; undefined when the object does not exist. */
export async function nftListJson(what: readonly string[]): Promise<{ nftables: Record<string, unknown>[] } | undefined> {
  try {
    const r = await run(['nft', '-j', 'list', ...what]);
    return JSON.parse(r.stdout) as { nftables: Record<string, unknown>[] };
  } catch (err) {
    if (err instanceof ExecError && /No such file or directory|does not exist/.test(err.result.stderr)) return undefined;
    throw err;
  }
}

/** `nft list ...` as text (for people and tests); empty when the object does not exist. */
export async function nftListText(what: readonly string[]): Promise<string> {
  const r = await runUnchecked(['nft', 'list', ...what]);
  return r.code === 0 ? r.stdout : '';
}
