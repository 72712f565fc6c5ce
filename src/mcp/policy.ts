/** What `banger mcp` lets a model do: which images, how many VMs, whether it may delete; its VMs carry a name prefix. */
import { randomBytes } from 'node:crypto';

export interface Policy {
  /** Images sandbox_create accepts; undefined: any. */
  allowImages?: readonly string[];
  /** How many VMs with the prefix may exist at once; undefined: no limit. */
  maxVms?: number;
  /** Whether sandbox_delete works. */
  allowDelete: boolean;
  /** Every VM the server creates is named with it, and the tools only touch VMs named with it. */
  namePrefix: string;
}

/** A request the policy refuses: reported to the model as a tool error, never a crash. */
export class PolicyRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyRefusal';
  }
}

export const DEFAULT_PREFIX = 'mcp-';

/** The VM name for what the model called `name` (the prefix added when missing); a fresh one when absent. */
export function vmName(policy: Policy, name: string | undefined): string {
  if (name === undefined || name === '') return `${policy.namePrefix}${randomBytes(3).toString('hex')}`;
  return name.startsWith(policy.namePrefix) ? name : `${policy.namePrefix}${name}`;
}

export function owned(policy: Policy, name: string): boolean {
  return name.startsWith(policy.namePrefix);
}

/** Throws PolicyRefusal when a create of `image` must not happen with `existing` VMs of this server. */
export function checkCreate(policy: Policy, image: string | undefined, existing: number): void {
  if (policy.allowImages) {
    const shown = policy.allowImages.join(', ');
    if (image === undefined) {
      if (policy.allowImages.length !== 1) throw new PolicyRefusal(`policy: name the image; allowed images are ${shown}`);
    } else if (!policy.allowImages.includes(image)) {
      throw new PolicyRefusal(`policy: image ${image} is not allowed here; allowed images are ${shown}`);
    }
  }
  if (policy.maxVms !== undefined && existing >= policy.maxVms) {
    throw new PolicyRefusal(`policy: at most ${policy.maxVms} sandbox(es) may exist at once and ${existing} do; delete or reuse one (sandbox_list shows them)`);
  }
}

/** The image to ask for: the one given, or the only allowed one. */
export function imageFor(policy: Policy, image: string | undefined): string | undefined {
  return image ?? (policy.allowImages?.length === 1 ? policy.allowImages[0] : undefined);
}

export function checkDelete(policy: Policy): void {
  if (!policy.allowDelete) throw new PolicyRefusal('policy: this server was started with --no-delete; sandbox_stop stops a sandbox instead');
}
