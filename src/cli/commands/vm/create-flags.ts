/** The flags `vm create` and `vm run` share, and the CreateVMRequest they become. */
import type { Command } from 'commander';
import type { CreateVMRequest } from '../../../api/types.js';
import { parsePortSpec } from '../../../api/ports.js';
import { allowOption, intOption, memoryOption, nameOption, networkOption, sizeOption } from '../../options.js';

function collectPort(value: string, prev: string[] = []): string[] {
  parsePortSpec(value);
  return [...prev, value];
}

export interface CreateOpts {
  name?: string;
  image?: string;
  vcpu?: number;
  memory?: number;
  diskSize?: string;
  rootSize?: string;
  nat?: boolean;
  publish?: string[];
  allow?: string[];
  network?: 'user' | 'bridge';
  start?: boolean;
  from?: string;
  cold?: boolean;
  driver?: string;
}

export function createBody(o: CreateOpts): CreateVMRequest {
  const body: CreateVMRequest = {};
  if (o.name !== undefined) body.name = o.name;
  if (o.image !== undefined) body.image = o.image;
  if (o.vcpu !== undefined) body.vcpu = o.vcpu;
  if (o.memory !== undefined) body.memoryMiB = o.memory;
  if (o.diskSize !== undefined) body.diskSize = o.diskSize;
  if (o.rootSize !== undefined) body.rootSize = o.rootSize;
  if (o.nat) body.nat = true;
  if (o.publish?.length) body.ports = o.publish.map((p) => parsePortSpec(p) && p);
  if (o.allow !== undefined) body.allow = o.allow;
  if (o.network !== undefined) body.network = o.network;
  if (o.start === false) body.noStart = true;
  if (o.from !== undefined) body.fromSnapshot = o.from;
  if (o.cold) body.cold = true;
  if (o.driver !== undefined) body.driver = o.driver;
  return body;
}

export function addCreateFlags(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'VM name (a DNS label; default: generated)', nameOption)
    .option('--image <image>', 'image name or id (default: config default_image_name, built when missing)')
    .option('--vcpu <n>', 'virtual CPUs', intOption('--vcpu', 1, 64))
    .option('--memory <mib>', 'memory in MiB (or with a unit: 2G)', memoryOption)
    .option('--disk-size <size>', 'work disk (/root) size, e.g. 8G', sizeOption)
    .option('--root-size <size>', "virtual size of the root disk; the guest's / grows to it (default vm_defaults.system_overlay_size, 8G)", sizeOption)
    .option('--nat', "give the VM outbound network access, never to the host itself (user mode: HTTP/HTTPS through banger's proxy, the guest's http_proxy); default: none")
    .option('-p, --publish <[hostport:]guestport>', "publish a guest TCP port on the host at every start (user mode: on the VM's own address, NAME.vm; bridge mode: on 127.0.0.1); repeatable", collectPort)
    .option('--network <mode>', 'user (default, rootless) or bridge (root: bridge, tap, nftables)', networkOption)
    .option(
      '--allow <entries>',
      'let the VM reach only these domains, *.wildcards, IPv4 addresses or CIDRs (comma-separated, repeatable; user mode: checked at the proxy); default [egress] allow',
      allowOption,
    )

    .option('--from <snapshot>', 'restore this snapshot (name or id) instead of booting; the VM gets its own hostname, host key, address and entropy')
    .option('--cold', 'boot from the image even when a warm pool template could be restored (see banger vm pool)')
    .option('--driver <name>', 'hypervisor for this VM: qemu or firecracker (default: config driver; with --from, the one that saved the snapshot); kept for its later starts, e.g. --driver firecracker');
}
