#!/bin/sh
# Run a command where the absolute NetBSD paths some tests/net scripts name exist:
#
#   test/conformance/netbsd-paths.sh ../shared/conformance/netbsd-tests-net/run if_bridge/t_bridge
#
# if_bridge/t_bridge.sh runs `/sbin/brconfig` with LD_PRELOAD=/usr/lib/librumphijack.so
# exported, so that NetBSD's brconfig (a host program) reaches the rump kernel. Ours,
# rump.brconfig, is a rump client already (as run's $HIJACKING passes rump.* tools
# through), so here /sbin/brconfig runs rump.brconfig without the preload, and
# /usr/lib/librumphijack.so is ours (RUMPNET_HIJACK_LIB), or an empty library when none is
# named: the loader finds what it was told to preload (no warning on stderr for atf_check
# to see).
#
# net/t_forwarding.sh's start_httpd runs `/usr/libexec/httpd -P pidfile -i ip -b -s dir`
# under that preload (NetBSD's bozohttpd, which Debian does not package): here it is
# test/conformance/httpd.py, a small static server of ours taking those flags, a host
# program (python3) that the preload puts on the kernel. Its clients there, `ftp` (Debian's
# tnftp, NetBSD's own ftp), run from the host as they are.
#
# These files exist only inside a private mount namespace made for the command
# (overlays on /usr/sbin, /usr/lib and /usr/libexec); the host's own paths are not touched.
# Needs root (unshare -m) and a C compiler (cc), as the addon's build does.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 command [args ...]" >&2; exit 1; }
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/sbin" "$w/lib" "$w/libexec"
cp "$(dirname "$0")/httpd.py" "$w/libexec/httpd"
chmod +x "$w/libexec/httpd"
printf '#!/bin/sh\nunset LD_PRELOAD\nexec rump.brconfig "$@"\n' >"$w/sbin/brconfig"
chmod +x "$w/sbin/brconfig"
if [ -n "${RUMPNET_HIJACK_LIB:-}" ] && [ -f "$RUMPNET_HIJACK_LIB" ]; then
  cp "$RUMPNET_HIJACK_LIB" "$w/lib/librumphijack.so"       # ours: host programs under it reach the kernel
else
  echo 'int rumpnet_empty_preload;' >"$w/empty.c"
  cc -shared -fPIC -o "$w/lib/librumphijack.so" "$w/empty.c"
fi
W="$w" unshare -m --propagation private sh -c '
  mount -t overlay overlay -o "lowerdir=$W/sbin:/usr/sbin" /usr/sbin &&
  mount -t overlay overlay -o "lowerdir=$W/lib:/usr/lib" /usr/lib &&
  mount -t overlay overlay -o "lowerdir=$W/libexec:/usr/libexec" /usr/libexec &&
  exec "$@"' sh "$@"
