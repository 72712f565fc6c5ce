#!/usr/bin/env bash
# Installs the Debian packages banger needs. Run as root.
# --test adds what the test suite uses on top: an sshd to test against, a host kernel
# (Debian's cloud kernel in /boot) that driver tests boot without a root filesystem, and the DNS tools.
set -euo pipefail
packages=(
  qemu-system-x86 qemu-utils
  # uidmap (newuidmap/newgidmap): image builds without root run mmdebstrap --mode=unshare
  mmdebstrap debian-archive-keyring uidmap
  e2fsprogs
  openssh-client openssh-server
  busybox cpio zstd lz4
  iproute2 nftables socat
  ca-certificates kmod xz-utils
)
if [ "${1:-}" = "--test" ]; then
  # dnsutils (dig) for the DNS tests; dnsperf and dnsmasq-base (a reference server, no service) for its bench
  packages+=(linux-image-cloud-amd64 initramfs-tools dnsutils dnsperf dnsmasq-base)
  # a local OCI registry (docker-registry, htpasswd from apache2-utils, openssl for its token auth) for the
  # image pull/push tests; skopeo and umoci for the oci-pull bench's reference
  packages+=(docker-registry apache2-utils openssl skopeo umoci)
  # binutils (readelf) checks the vmlinux extracted for firecracker
  packages+=(binutils)
  # chromium for the web UI tests (driven by playwright-core)
  packages+=(chromium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${1:-}" = "--test" ] && ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null && [ "$(id -u)" -eq 0 ]; then
  # tests fetch a kernel package with apt-get download, which needs package lists
  apt-get update -qq
fi
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}"
