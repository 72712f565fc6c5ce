/**
 * The smallest kernel Firecracker boots: an ELF64 x86-64 executable that halts forever, used by
 * the driver's probe to learn whether a microVM really starts here (and by the tests).
 *
 * @module
 */

/** The smallest ELF64 x86-64 executable Firecracker's loader accepts: one PT_LOAD at 16 MiB holding the entry point (and a built-in virtio-mmio, by name). */
export function tinyVmlinux(): Buffer {
  // hlt; jmp .-1, then the name a built-in virtio-mmio driver registers (what banger looks for in a kernel without a config).
  const code = Buffer.concat([Buffer.from([0xf4, 0xeb, 0xfd]), Buffer.from('virtio-mmio\0', 'latin1')]);
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

