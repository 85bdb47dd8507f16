import { isLoopbackUrl } from '../http/loopback';

/**
 * The hosts Teams' Bot Connector answers on (Microsoft's well-known proactive endpoints): the public
 * cloud (one host, regional paths such as /amer/ or /emea/), GCC, GCC High and DoD. A setting
 * (`TEAMS_SERVICE_URL_HOSTS`) replaces the list, e.g. for a cloud not named here.
 */
export const DEFAULT_TEAMS_SERVICE_URL_HOSTS: readonly string[] = [
  'smba.trafficmanager.net',
  'smba.infra.gcc.teams.microsoft.com',
  'smba.infra.gov.teams.microsoft.us',
  'smba.infra.dod.teams.microsoft.us',
];

/**
 * Whether a conversation reference's `serviceUrl` may be stored and called. The bot's token (and
 * every user's message) goes to that URL, and an activity names it, so only Teams' own hosts are
 * believed. Without an app id (local runs, tests, the Agents Playground on loopback) nothing is
 * signed, and loopback is allowed too.
 */
export interface ServiceUrlTrust {
  /** Undefined when trusted; else why not, in words fit for a recipient's recorded detail. */
  refusal(serviceUrl: string): string | undefined;
}

export interface ServiceUrlTrustSettings {
  /** Host patterns: an exact host, or `*.` + a domain for any host under it (not the domain itself). */
  readonly hosts: readonly string[];
  /** True without an app id: plain http or https to loopback is trusted as well. */
  readonly allowLoopback: boolean;
}

export function serviceUrlTrust(settings: ServiceUrlTrustSettings): ServiceUrlTrust {
  const patterns = settings.hosts.map((host) => host.trim().toLowerCase()).filter((host) => host !== '');
  return {
    refusal(serviceUrl: string): string | undefined {
      let url: URL;
      try {
        url = new URL(serviceUrl);
      } catch {
        return 'the serviceUrl is not a URL';
      }
      if (settings.allowLoopback && (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackUrl(serviceUrl)) return undefined;
      if (url.protocol !== 'https:') return `the serviceUrl is not https (${url.protocol.replace(/:$/, '')}), so it is not Teams'`;
      // Credentials in the URL would ride along on every call; Teams never sends them.
      if (url.username !== '' || url.password !== '') return 'the serviceUrl carries credentials, so it is not Teams\'';
      const host = url.hostname.toLowerCase().replace(/\.$/, '');
      if (url.port !== '' || !patterns.some((pattern) => hostMatches(host, pattern))) {
        return `the serviceUrl's host ${url.host} is not one Teams uses (TEAMS_SERVICE_URL_HOSTS)`;
      }
      return undefined;
    },
  };
}

function hostMatches(host: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

/** The trust the settings call for: Teams' hosts (or the configured ones), and loopback only while nothing is signed. */
export function serviceUrlTrustFrom(config: { readonly botAppId?: string | undefined; readonly teamsServiceUrlHosts?: readonly string[] | undefined }): ServiceUrlTrust {
  return serviceUrlTrust({ hosts: config.teamsServiceUrlHosts ?? DEFAULT_TEAMS_SERVICE_URL_HOSTS, allowLoopback: config.botAppId === undefined });
}

/** Without settings (tests, tools): Teams' default hosts and loopback, as for a local run with no app id. */
export const LOCAL_SERVICE_URL_TRUST: ServiceUrlTrust = serviceUrlTrust({ hosts: DEFAULT_TEAMS_SERVICE_URL_HOSTS, allowLoopback: true });
