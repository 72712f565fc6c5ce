/** banger vm ports (not built yet) */
import type { Command } from 'commander';
import { notBuiltYet, type CliContext } from '../../context.js';

export function registerPorts(vm: Command, _ctx: CliContext): void {
  notBuiltYet(vm.command('ports').argument('<names...>'), 'List listening ports in a VM', 'vm ports');
}
