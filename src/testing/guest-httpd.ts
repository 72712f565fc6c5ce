/**
 * A tiny HTTP server for guests (the images have perl-base, not python): `perl -e GUEST_HTTPD PORT ADDR`
 * answers every request with `guest-ok`.
 */
export const GUEST_HTTPD =
  'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => $ARGV[1], LocalPort => $ARGV[0], Listen => 5, ReuseAddr => 1) or die; ' +
  'while (my $c = $s->accept) { while (defined(my $l = <$c>)) { last unless $l =~ /\\S/ } print $c "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nguest-ok\\n"; close $c }';

/**
 * A guest shell command (run as `sh -c SCRIPT GUEST_HTTPD`) that starts the server detached on each
 * port and address given, and returns once all of them listen.
 */
export function startGuestHttpd(binds: readonly [port: number, addr: string][]): string {
  const start = binds.map(([p, a]) => `setsid -f perl -e "$0" ${p} ${a} >/dev/null 2>&1 </dev/null`).join('; ');
  const wait = binds.map(([p]) => `ss -Htln | grep -q ":${p} "`).join(' && ');
  return `${start}; for i in $(seq 120); do ${wait} && exit 0; sleep 1; done; exit 1`;
}
