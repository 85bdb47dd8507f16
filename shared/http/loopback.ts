const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * True for a URL on this machine's loopback interface: a local stand-in for an Azure service
 * (Graph, a callback receiver), which gets no token and may use plain http.
 */
export function isLoopbackUrl(url: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(url).hostname.toLowerCase());
  } catch {
    return false;
  }
}
