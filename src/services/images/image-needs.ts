/** What a pulled image lacks for a VM (an init system, openssh-server), read from its unpacked layers, and the plan that makes up for it. */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OpContext } from '../op-context.js';
import type { LayerTree } from './flatten/layer-tree.js';
import type { FirstBootPlan } from './manifest.js';
import { describePlan, installPlan, isSourceFile, mirrorHosts, osReleaseOf, type InstallPlan, type OsRelease } from './sshd-plan.js';

/** A small regular file of the unpacked image, read only inside the tree (never through a link). */
async function readTreeFile(tree: LayerTree, p: string): Promise<string | undefined> {
  const parents = p.split('/').slice(1, -1).map((_, i, a) => `/${a.slice(0, i + 1).join('/')}`);
  if (tree.meta.get(p)?.type !== 'file' || parents.some((d) => tree.meta.get(d)?.type !== 'dir')) return undefined;
  const st = await lstat(join(tree.root, p)).catch(() => undefined);
  if (!st?.isFile() || st.size > 64 * 1024) return undefined;
  return readFile(join(tree.root, p), 'utf8');
}

export async function readOsRelease(tree: LayerTree): Promise<OsRelease | undefined> {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    const text = await readTreeFile(tree, p);
    if (text !== undefined) return osReleaseOf(text);
  }
  return undefined;
}

/**
 * What the image lacks for a VM and what banger does about it: an image without sshd (and with an
 * init system) gets the first-boot installer, its plan naming the mirror hosts from the image's own
 * package sources; one without an init system is marked unbootable.
 */
export async function planNeeds(tree: LayerTree, os: OsRelease | undefined, warnings: string[], ctx: OpContext): Promise<{ firstBoot?: FirstBootPlan; initMissing?: boolean }> {
  const has = (...paths: string[]) => paths.some((p) => tree.meta.has(p));
  const needs = { init: !has('/sbin/init', '/lib/systemd/systemd', '/usr/lib/systemd/systemd'), sshd: !has('/usr/sbin/sshd', '/sbin/sshd') };
  if (!needs.init && !needs.sshd) return {};
  let plan: InstallPlan;
  try {
    plan = installPlan(os, needs);
  } catch (err) {
    if (needs.init) warnings.push('the image has no init system (systemd): banger cannot boot VMs from it');
    if (needs.sshd) warnings.push('the image has no openssh-server: VMs from it will not become ready');
    warnings.push((err as Error).message);
    return needs.init ? { initMissing: true } : {};
  }
  if (needs.init) {
    warnings.push(
      `the image has no init system (systemd): banger cannot boot VMs from it (the first-boot installer runs under systemd); add ${plan.packages.join(' ')} with ${plan.manager} (${describePlan(plan)}) to the image and pull it again`,
    );
    return { initMissing: true };
  }
  const texts: string[] = [];
  for (const p of [...tree.meta.keys()].filter((k) => isSourceFile(plan, k)).sort()) {
    const text = await readTreeFile(tree, p);
    if (text !== undefined) texts.push(text);
  }
  const hosts = mirrorHosts(plan, texts);
  ctx.log(
    `the image has no openssh-server: each VM's first boot installs ${plan.packages.join(' ')} with ${plan.manager} (${describePlan(plan)}), which needs egress to ${hosts.join(', ')}; banger opens exactly that for the install, then closes it again`,
  );
  return { firstBoot: { manager: plan.manager, packages: plan.packages, commands: plan.commands, hosts } };
}
