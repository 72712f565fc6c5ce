/**
 * The smallest recipe that still makes a complete image set, for rootless build tests and benches:
 * Debian's essential packages, the cloud kernel with initramfs-tools (an early file picks gzip and a
 * short module list), and ping, whose postinst sets a file capability (an xattr). About 60 MB of
 * packages; a build takes about a minute here.
 */
import type { Recipe } from '../services/images/recipes.js';

export const SMALL_RECIPE: Recipe = {
  name: 'small-essential',
  description: 'Debian bookworm essential packages + the cloud kernel + ping (for tests and benches)',
  distro: 'debian',
  suite: 'bookworm',
  arch: 'amd64',
  variant: 'essential',
  components: ['main'],
  hostname: 'small',
  packages: ['linux-image-cloud-amd64', 'initramfs-tools', 'libcap2-bin', 'iputils-ping'],
  earlyFiles: [{ path: '/etc/initramfs-tools/conf.d/banger', content: 'MODULES=list\nCOMPRESS=gzip\n', mode: '0640' }],
  files: [{ path: '/etc/banger-secret', content: 'only root reads this\n', mode: '0600' }],
};
