/**
 * A tiny bootable program for the acceleration probe: a Multiboot image (QEMU loads it with
 * -kernel) that runs in 32-bit protected mode, touches memory, spins through a fixed amount of
 * work and then exits QEMU through the isa-debug-exit device. Progress goes to the debug console
 * (port 0x402), so a probe can tell how far a guest got in a bounded time.
 *
 * Console output: {@link PAYLOAD_START}, one {@link PAYLOAD_TICK} per step, then {@link PAYLOAD_DONE}.
 *
 * @module
 */

export const PAYLOAD_START = '<banger-probe:';
export const PAYLOAD_TICK = '.';
export const PAYLOAD_DONE = ':ok>';
export const DEBUGCON_PORT = 0x402;
export const DEBUG_EXIT_PORT = 0xf4;
/** isa-debug-exit makes QEMU exit with (value << 1) | 1; the payload writes 0x10. */
export const PAYLOAD_EXIT_STATUS = (0x10 << 1) | 1;

export interface PayloadWork {
  /** 4 KiB pages written once each, starting at 2 MiB. */
  pages: number;
  /** Progress steps; one tick is printed after each. */
  steps: number;
  /** Loop iterations per step. */
  iterationsPerStep: number;
}

/** Takes a healthy KVM guest a few milliseconds and TCG a few hundred. */
export const DEFAULT_WORK: PayloadWork = { pages: 8192, steps: 20, iterationsPerStep: 1_000_000 };

/** Guest memory the payload needs, in MiB (its pages start at 2 MiB). */
export function payloadMemoryMiB(work: PayloadWork): number {
  return Math.max(64, 2 + Math.ceil((work.pages * 4096) / 1048576) + 16);
}

const LOAD_ADDR = 0x100000;
const HEADER_SIZE = 32;
const MULTIBOOT_MAGIC = 0x1badb002;
/** Bit 16: the header carries load addresses (a flat binary, not ELF). */
const MULTIBOOT_FLAGS = 0x00010000;

export function buildProbePayload(work: PayloadWork = DEFAULT_WORK): Buffer {
  for (const [k, v] of Object.entries(work)) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new RangeError(`payload ${k} out of range: ${String(v)}`);
  }
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(MULTIBOOT_MAGIC, 0);
  header.writeUInt32LE(MULTIBOOT_FLAGS, 4);
  header.writeUInt32LE((-(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)) >>> 0, 8);
  header.writeUInt32LE(LOAD_ADDR, 12); // header_addr
  header.writeUInt32LE(LOAD_ADDR, 16); // load_addr
  header.writeUInt32LE(0, 20); // load_end_addr: the whole file
  header.writeUInt32LE(0, 24); // bss_end_addr: none
  header.writeUInt32LE(LOAD_ADDR + HEADER_SIZE, 28); // entry

  const code: number[] = [];
  const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  const print = (s: string) => {
    for (const ch of Buffer.from(s, 'latin1')) code.push(0xb0, ch, 0xee); // mov al, ch; out dx, al
  };
  code.push(0x66, 0xba, DEBUGCON_PORT & 0xff, DEBUGCON_PORT >> 8); // mov dx, 0x402
  print(PAYLOAD_START);
  code.push(0xbf, ...u32(0x200000)); // mov edi, 2 MiB
  code.push(0xb9, ...u32(work.pages)); // mov ecx, pages
  // touch: mov [edi], edi; add edi, 4096; dec ecx; jnz touch
  code.push(0x89, 0x3f, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, 0x49, 0x75, 0xf5);
  code.push(0xbb, ...u32(work.steps)); // mov ebx, steps
  // step: mov ecx, n; spin: dec ecx; jnz spin; mov al, '.'; out dx, al; dec ebx; jnz step
  code.push(0xb9, ...u32(work.iterationsPerStep), 0x49, 0x75, 0xfd, 0xb0, PAYLOAD_TICK.charCodeAt(0), 0xee, 0x4b, 0x75, 0xf2);
  print(PAYLOAD_DONE);
  code.push(0x66, 0xba, DEBUG_EXIT_PORT, 0x00); // mov dx, 0xf4
  code.push(0xb8, ...u32(0x10), 0xef); // mov eax, 0x10; out dx, eax
  code.push(0xf4, 0xeb, 0xfd); // halt: hlt; jmp halt
  return Buffer.concat([header, Buffer.from(code)]);
}

export interface PayloadProgress {
  started: boolean;
  steps: number;
  done: boolean;
}

/** Reads the payload's progress out of a debug console log (which also holds the firmware's chatter). */
export function parsePayloadOutput(log: string): PayloadProgress {
  const at = log.lastIndexOf(PAYLOAD_START);
  if (at < 0) return { started: false, steps: 0, done: false };
  const rest = log.slice(at + PAYLOAD_START.length);
  const ticks = /^\.*/.exec(rest)?.[0].length ?? 0;
  return { started: true, steps: ticks, done: rest.slice(ticks).startsWith(PAYLOAD_DONE) };
}
