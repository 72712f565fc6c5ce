/**
 * The smallest kernel Firecracker boots: an ELF64 x86-64 executable that writes a marker line to
 * the serial port (COM1, 0x3f8, which firecracker copies to its stdout) and then halts forever. The
 * driver's probe boots it and waits for the marker, so a host where /dev/kvm opens but guests hang
 * or crash is told apart from one where they run.
 *
 * @module
 */

/** What the probe guest writes to its serial console once its vCPU really runs. */
export const PROBE_MARKER = 'banger-probe-ok';

/** COM1's data register, where firecracker's 8250 UART takes the bytes a guest writes. */
export const SERIAL_PORT = 0x3f8;

/** The guest's code: mov dx, 0x3f8; then per byte mov al, <byte>; out dx, al; then hlt; jmp back to the hlt. */
export function probeCode(marker = PROBE_MARKER): Buffer {
  const bytes: number[] = [0x66, 0xba, SERIAL_PORT & 0xff, SERIAL_PORT >> 8];
  for (const b of Buffer.from(`${marker}\n`, 'latin1')) bytes.push(0xb0, b, 0xee);
  bytes.push(0xf4, 0xeb, 0xfd);
  return Buffer.from(bytes);
}

/** The smallest ELF64 x86-64 executable Firecracker's loader accepts: one PT_LOAD at 16 MiB holding the entry point (and a built-in virtio-mmio, by name). */
export function tinyVmlinux(entryCode: Buffer = probeCode()): Buffer {
  // The code run at the entry point, then the name a built-in virtio-mmio driver registers (what banger looks for in a kernel without a config).
  const code = Buffer.concat([entryCode, Buffer.from('virtio-mmio\0', 'latin1')]);
  const ehsize = 64;
  const phsize = 56;
  const buf = Buffer.alloc(ehsize + phsize + code.length);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  buf.writeUInt16LE(2, 0x10); // ET_EXEC
  buf.writeUInt16LE(62, 0x12); // EM_X86_64
  buf.writeUInt32LE(1, 0x14);
  const load = 0x1000000n;
  const off = ehsize + phsize;
  buf.writeBigUInt64LE(load + BigInt(off), 0x18); // e_entry
  buf.writeBigUInt64LE(BigInt(ehsize), 0x20); // e_phoff
  buf.writeUInt16LE(ehsize, 0x34);
  buf.writeUInt16LE(phsize, 0x36);
  buf.writeUInt16LE(1, 0x38);
  const p = ehsize;
  buf.writeUInt32LE(1, p); // PT_LOAD
  buf.writeUInt32LE(5, p + 4); // R+X
  buf.writeBigUInt64LE(0n, p + 8);
  buf.writeBigUInt64LE(0xffffffff81000000n, p + 0x10);
  buf.writeBigUInt64LE(load, p + 0x18);
  buf.writeBigUInt64LE(BigInt(buf.length), p + 0x20);
  buf.writeBigUInt64LE(BigInt(buf.length), p + 0x28);
  buf.set(code, off);
  return buf;
}
