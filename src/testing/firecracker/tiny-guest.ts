/**
 * What the stand-in does in place of running a guest's vCPU. It cannot run code, so it decodes the
 * ELF's entry point and interprets only the instructions the probe kernel is made of (mov dx,
 * imm16; mov al, imm8; out dx, al; hlt); bytes written to COM1 (0x3f8) become serial output. Code
 * with any other instruction is a real kernel to the stand-in, which then prints boot lines instead.
 * A vCPU that never reaches the `out` instructions (a hang, a fault) writes nothing, as on a
 * broken KVM host; the stand-in's `guest` knob emulates that.
 *
 * @module
 */

export const COM1 = 0x3f8;

/** The serial output of a program made only of the probe's instructions up to its `hlt`; undefined for anything else. */
export function interpretTinyGuest(elf: Buffer): string | undefined {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return undefined;
  const entry = elf.readBigUInt64LE(0x18);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  let at: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (p + 0x30 > elf.length || elf.readUInt32LE(p) !== 1) continue;
    const offset = elf.readBigUInt64LE(p + 8);
    const paddr = elf.readBigUInt64LE(p + 0x18);
    const filesz = elf.readBigUInt64LE(p + 0x20);
    if (entry >= paddr && entry < paddr + filesz) at = Number(offset + (entry - paddr));
  }
  if (at === undefined) return undefined;
  let dx = 0;
  let al = 0;
  let out = '';
  for (let steps = 0; steps < 4096 && at < elf.length; steps++) {
    const op = elf[at];
    if (op === 0x66 && elf[at + 1] === 0xba && at + 4 <= elf.length) {
      dx = elf.readUInt16LE(at + 2);
      at += 4;
    } else if (op === 0xb0 && at + 2 <= elf.length) {
      al = elf[at + 1]!;
      at += 2;
    } else if (op === 0xee) {
      if (dx === COM1) out += String.fromCharCode(al);
      at += 1;
    } else if (op === 0xf4) {
      return out;
    } else {
      return undefined;
    }
  }
  return undefined;
}
