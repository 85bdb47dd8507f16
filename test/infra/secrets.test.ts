/** No secret in outputs or plain app settings; local (key/SAS) auth off wherever the service allows it. */
import { SETTINGS } from '../../shared/config';
import {
  allResources,
  mainTemplate,
  moduleNamed,
  moduleParam,
  modules,
  oneResource,
  resourcesOf,
  resourcesOfType,
} from './arm';

/** ARM functions and names that carry credentials. */
const SECRET_PATTERNS = [
  /\blist[A-Za-z]*\(/, // listKeys, listSecrets, listConnectionStrings, listCredentials ...
  /AccountKey=/i,
  /SharedAccessKey/i,
  /InstrumentationKey/i,
  /primaryKey|secondaryKey/i,
  /password/i,
];

function securedParameters(template = mainTemplate()): string[] {
  return Object.entries(template.parameters ?? {})
    .filter(([, p]) => p.type === 'securestring' || p.type === 'secureObject')
    .map(([name]) => name);
}

/** The two optional secrets: main.bicep parameter → keyVault module parameter, secret name in the vault, app setting. */
const SECRETS = [
  { param: 'singleTenantAppPassword', moduleParam: 'appPassword', store: 'storeBotSecret', secretName: 'botSecretName', setting: SETTINGS.botAppPassword },
  { param: 'callbackSigningKey', moduleParam: 'callbackSigningKey', store: 'storeCallbackSigningKey', secretName: 'callbackSigningKeySecretName', setting: SETTINGS.callbackSigningKey },
] as const;

/** An expression with every `empty(parameters('x'))` (a bool, not the value) taken out. */
const withoutEmptyChecks = (text: string, param: string) => text.split(`empty(parameters('${param}'))`).join('');

describe('secrets', () => {
  it('has exactly two secure parameters, the SingleTenant client secret and the callback signing key, each empty by default', () => {
    expect(securedParameters().sort()).toEqual(SECRETS.map((x) => x.param).sort());
    for (const { param } of SECRETS) expect(mainTemplate().parameters?.[param]?.defaultValue).toBe('');
  });

  it('passes each secure parameter only to the Key Vault module, as a secure parameter there', () => {
    for (const { param, moduleParam: target } of SECRETS) {
      for (const m of modules()) {
        for (const [name, value] of Object.entries(m.params)) {
          if (JSON.stringify(value).includes(`parameters('${param}')`)) expect([m.name, name]).toEqual(['keyVault', target]);
        }
      }
      // main.bicep uses it elsewhere only to ask whether it is empty.
      for (const [name, value] of Object.entries(mainTemplate().variables ?? {})) {
        expect({ name, text: withoutEmptyChecks(JSON.stringify(value), param) }).toEqual({ name, text: expect.not.stringContaining(`parameters('${param}')`) });
      }
      // Nor does any resource of main.bicep itself (modules' own parameters may share the name).
      for (const { resource } of allResources().filter((r) => r.module === 'main')) {
        expect(JSON.stringify(resource)).not.toContain(`parameters('${param}')`);
      }
    }
    expect(securedParameters(moduleNamed('keyVault').template).sort()).toEqual(SECRETS.map((x) => x.moduleParam).sort());
  });

  it('writes each value only into a Key Vault secret of its own', () => {
    for (const { moduleParam: param, store, secretName } of SECRETS) {
      const holders = resourcesOfType('Microsoft.KeyVault/vaults/secrets').filter(({ resource }) => JSON.stringify(resource).includes(`parameters('${param}')`));
      expect(holders).toHaveLength(1);
      const secret = holders[0]!.resource;
      expect(holders[0]!.module).toBe('keyVault');
      expect(secret.name).toContain(`variables('${secretName}')`);
      expect(secret.condition).toBe(`[parameters('${store}')]`);
      // Nothing else in the module sees the value: not a resource, not an output.
      const others = resourcesOf(moduleNamed('keyVault').template).filter((r) => r !== secret);
      for (const r of others) expect(JSON.stringify(r)).not.toContain(`parameters('${param}')`);
      expect(JSON.stringify(moduleNamed('keyVault').template.outputs)).not.toContain(`parameters('${param}')`);
    }
  });

  it('fails the deployment rather than store a callback signing key the app would refuse (under 32 characters)', () => {
    const secret = resourcesOfType('Microsoft.KeyVault/vaults/secrets').find(({ resource }) => resource.name.includes("variables('callbackSigningKeySecretName')"));
    const value = (secret?.resource.properties as { value: string }).value;
    expect(value).toMatch(/^\[if\(greaterOrEquals\(length\(parameters\('callbackSigningKey'\)\), 32\), parameters\('callbackSigningKey'\), fail\('[^']+'\)\)\]$/);
    // The failure message names the rule, never the value.
    expect(/fail\('([^']+)'\)/.exec(value)?.[1]).not.toContain('parameters(');
  });

  it('writes no secret into app settings (identity, endpoints and Key Vault references only)', () => {
    const settings = moduleParam('functionApp', 'appSettings') as Record<string, unknown>;
    for (const [name, value] of Object.entries(settings)) {
      const text = JSON.stringify(value);
      expect({ name, text }).toEqual({ name, text: expect.not.stringMatching(/\blist[A-Za-z]*\(|AccountKey=|SharedAccessKey|parameters\('(singleTenantAppPassword|callbackSigningKey)'\)/) });
    }
    for (const { setting } of SECRETS) expect(settings[setting]).toMatch(/@Microsoft\.KeyVault\(SecretUri=/);
  });

  it('outputs no secret from main.bicep or any module', () => {
    const templates = [{ name: 'main', template: mainTemplate() }, ...modules().map((m) => ({ name: m.name, template: m.template }))];
    for (const { name, template } of templates) {
      for (const [output, o] of Object.entries(template.outputs ?? {})) {
        const text = `${output} ${JSON.stringify(o.value)}`;
        for (const pattern of SECRET_PATTERNS) expect({ name, output, text }).toEqual({ name, output, text: expect.not.stringMatching(pattern) });
        expect(o.type.toLowerCase()).not.toMatch(/secure/);
      }
    }
  });

  it('turns off local auth: Service Bus SAS, Application Insights and Log Analytics keys, storage shared keys, bot channel secrets', () => {
    const props = (type: string) => oneResource(type).resource.properties as Record<string, unknown>;
    expect(props('Microsoft.ServiceBus/namespaces').disableLocalAuth).toBe(true);
    expect(props('Microsoft.Insights/components').DisableLocalAuth).toBe(true);
    expect((props('Microsoft.OperationalInsights/workspaces').features as { disableLocalAuth: boolean }).disableLocalAuth).toBe(true);
    expect(props('Microsoft.BotService/botServices').disableLocalAuth).toBe(true);
    const storage = props('Microsoft.Storage/storageAccounts');
    expect(storage.allowSharedKeyAccess).toBe(false);
    expect(storage.allowBlobPublicAccess).toBe(false);
    expect(storage.minimumTlsVersion).toBe('TLS1_2');
    expect(storage.supportsHttpsTrafficOnly).toBe(true);
  });

  it('keeps one Key Vault, RBAC-only with purge protection', () => {
    expect(oneResource('Microsoft.KeyVault/vaults').module).toBe('keyVault');
    const vault = oneResource('Microsoft.KeyVault/vaults').resource.properties as Record<string, unknown>;
    expect(vault.enableRbacAuthorization).toBe(true);
    expect(vault.enablePurgeProtection).toBe(true);
    expect(vault).not.toHaveProperty('accessPolicies');
  });

  it('creates no SAS policy, access key or connection-string resource', () => {
    const types = allResources().map((r) => r.resource.type.toLowerCase());
    for (const t of ['microsoft.servicebus/namespaces/authorizationrules', 'microsoft.servicebus/namespaces/queues/authorizationrules']) {
      expect(types).not.toContain(t);
    }
    expect(resourcesOfType('Microsoft.Web/sites/config')).toHaveLength(0);
  });
});
