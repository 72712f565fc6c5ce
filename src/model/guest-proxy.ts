/**
 * The proxy settings a user-mode guest gets from its seed (in /etc/environment, which PAM gives every
 * login and ssh command): its tools reach the network through banger's egress proxy.
 *
 * @module
 */

/** Set to the proxy's URL. */
export const GUEST_PROXY_KEYS = ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'] as const;
/** Set to GUEST_NO_PROXY. */
export const GUEST_NO_PROXY_KEYS = ['no_proxy', 'NO_PROXY'] as const;
/** What never goes through the proxy: the guest itself. */
export const GUEST_NO_PROXY = 'localhost,127.0.0.1,::1';

/** The variables a guest with proxy `url` has. Pure. */
export function guestProxyEnvironment(url: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of GUEST_PROXY_KEYS) env[k] = url;
  for (const k of GUEST_NO_PROXY_KEYS) env[k] = GUEST_NO_PROXY;
  return env;
}
