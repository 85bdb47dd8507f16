/** No secret in outputs or plain app settings; local (key/SAS) auth off wherever the service allows it. */
import {
  allResources,
  mainTemplate,
  moduleNamed,
  moduleParam,
  modules,
  oneResource,
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

describe('secrets', () => {
  it('has exactly one secure parameter, the optional SingleTenant client secret, with an empty default', () => {
    expect(securedParameters()).toEqual(['singleTenantAppPassword']);
    expect(mainTemplate().parameters?.singleTenantAppPassword?.defaultValue).toBe('');
  });

  it('passes the secure parameter only to the Key Vault module, as a secure parameter there', () => {
    for (const m of modules()) {
      for (const [param, value] of Object.entries(m.params)) {
        if (JSON.stringify(value).includes("parameters('singleTenantAppPassword')")) {
          expect([m.name, param]).toEqual(['botSecret', 'appPassword']);
        }
      }
    }
    expect(securedParameters(moduleNamed('botSecret').template)).toEqual(['appPassword']);
  });

  it('writes no secret into app settings (identity, endpoints and a Key Vault reference only)', () => {
    const settings = moduleParam('functionApp', 'appSettings') as Record<string, unknown>;
    for (const [name, value] of Object.entries(settings)) {
      const text = JSON.stringify(value);
      expect({ name, text }).toEqual({ name, text: expect.not.stringMatching(/\blist[A-Za-z]*\(|AccountKey=|SharedAccessKey|singleTenantAppPassword/) });
    }
    expect(settings.MicrosoftAppPassword).toMatch(/@Microsoft\.KeyVault\(SecretUri=/);
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

  it('keeps the Key Vault RBAC-only with purge protection', () => {
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
