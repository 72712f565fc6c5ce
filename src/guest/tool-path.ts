/**
 * The PATH of everything run over SSH in a guest, with mise's shims first: the versions the tooling
 * bootstrap pins (`mise use --global`, and the workspace's own mise files there) answer to their plain
 * names in `vm exec`, `vm run -- cmd`, `vm ssh`, SDK commands and guest sessions alike. sshd sets it
 * for commands (SetEnv in banger's drop-in); login shells reset PATH in /etc/profile, so a profile.d
 * file puts the shims back. A shims directory that does not exist (no mise) costs nothing.
 */

export const MISE_SHIMS = '/root/.local/share/mise/shims';

/** Debian's PATH for root, after the shims. */
export const GUEST_PATH = `${MISE_SHIMS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

export const MISE_PROFILE_PATH = '/etc/profile.d/banger-mise.sh';

export const MISE_PROFILE = `# Written by banger: tools installed with mise come first on PATH in login shells.
banger_shims="\${MISE_DATA_DIR:-$HOME/.local/share/mise}/shims"
case ":$PATH:" in
  *":$banger_shims:"*) ;;
  *) PATH="$banger_shims:$PATH"; export PATH ;;
esac
unset banger_shims
`;
