import { ConfigError, loadConfig } from '../../shared/config';
import { DEFAULT_TEAMS_SERVICE_URL_HOSTS, serviceUrlTrust, serviceUrlTrustFrom } from '../../shared/teams/trustedServiceUrl';

const STORAGE = { STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' };

describe('trusted serviceUrl: only Teams\' hosts, loopback only without an app id', () => {
  const signed = serviceUrlTrustFrom({ botAppId: 'app-id' });
  const local = serviceUrlTrustFrom({});

  it.each([
    'https://smba.trafficmanager.net/teams/',
    'https://smba.trafficmanager.net/amer/',
    'https://SMBA.trafficmanager.net/emea/',
    'https://smba.infra.gcc.teams.microsoft.com/teams',
    'https://smba.infra.gov.teams.microsoft.us/teams',
    'https://smba.infra.dod.teams.microsoft.us/teams',
    'https://smba.trafficmanager.net:443/apac/',
  ])('trusts Teams\' %s with an app id and without', (url) => {
    expect(signed.refusal(url)).toBeUndefined();
    expect(local.refusal(url)).toBeUndefined();
  });

  it.each([
    ['https://evil.example/', 'host evil.example'],
    ['javascript:alert(1)', 'not https (javascript)'],
    ['http://smba.trafficmanager.net/amer/', 'not https (http)'],
    ['https://smba.trafficmanager.net.evil.example/', 'host smba.trafficmanager.net.evil.example'],
    ['https://evilsmba.trafficmanager.net/', 'host evilsmba.trafficmanager.net'],
    ['https://x.smba.trafficmanager.net/', 'host x.smba.trafficmanager.net'],
    ['https://smba.trafficmanager.net:8443/amer/', 'host smba.trafficmanager.net:8443'],
    ['https://user:pw@smba.trafficmanager.net/amer/', 'carries credentials'],
    ['not a url', 'not a URL'],
    ['', 'not a URL'],
  ])('refuses %s everywhere (%s)', (url, why) => {
    expect(signed.refusal(url)).toContain(why);
    expect(local.refusal(url)).toContain(why);
  });

  it.each(['http://127.0.0.1:56000/_connector', 'http://localhost:3978/', 'https://[::1]:8443/'])('allows loopback %s only without an app id', (url) => {
    expect(local.refusal(url)).toBeUndefined();
    expect(signed.refusal(url)).toBeDefined();
  });

  it('a configured list replaces the defaults; "*." matches hosts under the domain, not the domain itself', () => {
    const trust = serviceUrlTrust({ hosts: ['*.bots.contoso.com', 'teams.fabrikam.net'], allowLoopback: false });
    expect(trust.refusal('https://eu.bots.contoso.com/x')).toBeUndefined();
    expect(trust.refusal('https://a.b.bots.contoso.com/x')).toBeUndefined();
    expect(trust.refusal('https://teams.fabrikam.net/')).toBeUndefined();
    expect(trust.refusal('https://bots.contoso.com/')).toBeDefined();
    expect(trust.refusal('https://evilbots.contoso.com/')).toBeDefined();
    expect(trust.refusal('https://smba.trafficmanager.net/amer/')).toBeDefined();
  });

  it('reads TEAMS_SERVICE_URL_HOSTS (comma-separated, lower-cased) and refuses what is not a host pattern', () => {
    expect(loadConfig(STORAGE).teamsServiceUrlHosts).toBeUndefined();
    expect(loadConfig({ ...STORAGE, TEAMS_SERVICE_URL_HOSTS: ' Smba.TrafficManager.net , *.smba.example.com ' }).teamsServiceUrlHosts).toEqual([
      'smba.trafficmanager.net',
      '*.smba.example.com',
    ]);
    for (const bad of ['https://smba.trafficmanager.net/', 'smba.*.net', ',', 'a b']) {
      expect(() => loadConfig({ ...STORAGE, TEAMS_SERVICE_URL_HOSTS: bad })).toThrow(ConfigError);
    }
    const configured = serviceUrlTrustFrom(loadConfig({ ...STORAGE, MicrosoftAppId: 'app', TEAMS_SERVICE_URL_HOSTS: 'teams.contoso.com' }));
    expect(configured.refusal('https://teams.contoso.com/')).toBeUndefined();
    expect(configured.refusal(`https://${DEFAULT_TEAMS_SERVICE_URL_HOSTS[0] ?? ''}/amer/`)).toBeDefined();
  });

  it('BotOpenIdMetadata (botbuilder\'s setting) is accepted for a loopback stand-in only', () => {
    expect(loadConfig({ ...STORAGE, BotOpenIdMetadata: 'http://127.0.0.1:4000/v1/.well-known/openidconfiguration' }).botOpenIdMetadata).toBe(
      'http://127.0.0.1:4000/v1/.well-known/openidconfiguration',
    );
    expect(() => loadConfig({ ...STORAGE, BotOpenIdMetadata: 'https://login.evil.example/openid' })).toThrow(ConfigError);
  });
});
