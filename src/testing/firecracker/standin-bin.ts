/**
 * The stand-in as an executable: tests install a `firecracker` script that runs this file, so the
 * driver's real spawn path is exercised. It takes firecracker's own flags (--version, --api-sock,
 * --id; the rest are ignored) and reads its behaviour from BANGER_FC_STANDIN (JSON):
 * { version?: string, noSocket?: boolean, powerOff?: number | "ignore", exitAfterMs?: number,
 * fault?: { path, message } (that request is refused with 400 and the message), recordTo?: string
 * (every request and answer appended there as JSON lines), guest?: "hang" | "crash" (a host where
 * /dev/kvm opens but the guest's vCPU hangs, or faults and firecracker exits) }.
 *
 * @module
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FirecrackerSchema } from './schema.js';
import { FirecrackerStandin } from './standin.js';

interface Knobs {
  version?: string;
  guestBits?: number;
  noSocket?: boolean;
  powerOff?: number | 'ignore';
  exitAfterMs?: number;
  fault?: { path: string; message: string };
  /** Append every request and its answer to this file (JSON lines). */
  recordTo?: string;
  guest?: 'hang' | 'crash';
}

const knobs = JSON.parse(process.env.BANGER_FC_STANDIN ?? '{}') as Knobs;
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

if (args.includes('--version')) {
  process.stdout.write(`Firecracker v${knobs.version ?? '1.16.1'}\n\n`);
  process.exit(0);
}

// Run by the stand-in jailer: paths are inside its chroot.
const root = process.env.BANGER_FC_STANDIN_ROOT || undefined;
const apiSock = flag('--api-sock');
const sock = apiSock && root ? join(root, apiSock) : apiSock;
if (!sock) {
  process.stderr.write('Error: --api-sock is required\n');
  process.exit(1);
}
if (knobs.exitAfterMs !== undefined) setTimeout(() => process.exit(1), knobs.exitAfterMs);

const schema = FirecrackerSchema.load();
if (!schema) {
  process.stderr.write('stand-in: firecracker-v1.16.1.yaml not found (set BANGER_FC_API_YAML)\n');
  process.exit(1);
}
process.stdout.write(`Running Firecracker v${knobs.version ?? '1.16.1'}\n`);
if (knobs.noSocket) {
  // Hangs without ever serving its API socket.
  setInterval(() => undefined, 60_000);
} else {
  const standin = new FirecrackerStandin({
    schema,
    ...(knobs.version ? { version: knobs.version } : {}),
    ...(flag('--id') ? { id: flag('--id')! } : {}),
    console: (line) => process.stdout.write(line + '\n'),
    powerOffDelayMs: knobs.powerOff ?? 100,
    ...(knobs.fault ? { fault: knobs.fault } : {}),
    ...(knobs.recordTo ? { recordTo: knobs.recordTo } : {}),
    ...(root ? { root } : {}),
    ...(knobs.guest ? { guest: knobs.guest } : {}),
    ...(knobs.guestBits !== undefined ? { guestBits: knobs.guestBits } : {}),
    onCrash: () => {
      rmSync(sock, { force: true });
      process.exit(1);
    },
    onPowerOff: () => {
      rmSync(sock, { force: true });
      process.exit(0);
    },
  });
  await standin.listen(sock);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
}
