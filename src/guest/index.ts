/** What banger puts inside guests: the guest bits of every image and the per-VM seed disk. */
export { buildSeedDisk, renderSeedFiles, seedProblems, isDnsLabel, type SeedConfig, type SeedNetwork, type SeedFile } from './seed.js';
export { injectFirstBoot, injectGuestBits, layGuestBits } from './inject.js';
export { FIRST_BOOT_DONE, FIRST_BOOT_FAILED, FIRST_BOOT_OK, FIRST_BOOT_TAG, firstBootScript } from './first-boot.js';
export { guestBits, guestBitsDigest, patchFstab, patchPamSshd, GUEST_ABSENT, WORK_DISK_DEVICE, GUEST_BITS_VERSION, GUEST_BITS_MARKER, FSTAB_ROOT_LINE, type GuestBit } from './guest-bits.js';
export { SEED_LABEL, SEED_SERIAL, SEED_SCRIPT_PATH, SEED_UNIT_PATH, NETWORK_FILE } from './seed-script.js';
export { INITRAMFS_TOOLS_INIT, TRIM_INIT_SCRIPT } from './trim-init.js';
export { GROWROOT_SCRIPT_PATH, GROWROOT_UNIT_PATH, GROWROOT_UNIT_NAME } from './growroot.js';
export { SSHD_DROPIN_PATH, HOST_KEY_PATH } from './sshd.js';
export { reidentifyScript, IDENTITY_OK, type GuestIdentity } from './reidentify.js';
export { CHANNEL_PORT, CHANNEL_SCRIPT, CHANNEL_SCRIPT_PATH, CTRL_ALT_DEL_PATH, CTRL_ALT_DEL_TARGET } from './channel.js';
