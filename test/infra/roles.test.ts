/**
 * Every role assignment in the template: the right role, on the right resource, for the app's
 * user-assigned identity, and nothing broader.
 */
import { evaluate, mainTemplate, moduleNamed, moduleParam, parameterName, referencesIdentity, resourcesOfType } from './arm';

const ROLE = {
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
} as const;

const PRIVILEGED = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419',
};

/** (module, scope resource type, role) for every assignment there must be; no more, no less. */
const EXPECTED: ReadonlyArray<readonly [string, string, keyof typeof ROLE]> = [
  ['storage', 'Microsoft.Storage/storageAccounts', 'storageBlobDataOwner'],
  ['storage', 'Microsoft.Storage/storageAccounts', 'storageTableDataContributor'],
  ['serviceBus', 'Microsoft.ServiceBus/namespaces', 'serviceBusDataSender'],
  ['serviceBus', 'Microsoft.ServiceBus/namespaces', 'serviceBusDataReceiver'],
  ['monitoring', 'Microsoft.Insights/components', 'monitoringMetricsPublisher'],
  // One per secret (the bot's client secret, the callback signing key), each on that secret alone.
  ['keyVault', 'Microsoft.KeyVault/vaults/secrets', 'keyVaultSecretsUser'],
  ['keyVault', 'Microsoft.KeyVault/vaults/secrets', 'keyVaultSecretsUser'],
];

interface Assignment {
  module: string;
  name: string;
  scope: string;
  roleId: string;
  principalId: unknown;
  principalType: unknown;
}

function assignments(): Assignment[] {
  return resourcesOfType('Microsoft.Authorization/roleAssignments').map(({ module, resource }) => {
    const p = resource.properties as { roleDefinitionId: string; principalId: unknown; principalType: unknown };
    const m = moduleNamed(module);
    const roleVar = /variables\('roleIds'\)\.(\w+)/.exec(p.roleDefinitionId)?.[1];
    const roleIds = (m.template.variables?.roleIds ?? {}) as Record<string, string>;
    const roleId = roleVar ? roleIds[roleVar] : /([0-9a-f-]{36})/.exec(p.roleDefinitionId)?.[1];
    return {
      module,
      name: resource.name,
      scope: resource.scope ?? '',
      roleId: roleId ?? p.roleDefinitionId,
      principalId: p.principalId,
      principalType: p.principalType,
    };
  });
}

const scopeType = (scope: string) => /resourceId\('([^']+)'/.exec(scope)?.[1] ?? '(deployment scope)';

describe('role assignments', () => {
  it('grants exactly the data-plane roles the app needs, each on its own resource', () => {
    const found = assignments()
      .map((a) => [a.module, scopeType(a.scope), a.roleId] as const)
      .sort();
    const expected = EXPECTED.map(([m, type, role]) => [m, type, ROLE[role]] as const).sort();
    expect(found).toEqual(expected);
  });

  it('uses built-in role definitions by subscription-level id', () => {
    for (const a of resourcesOfType('Microsoft.Authorization/roleAssignments')) {
      expect((a.resource.properties as { roleDefinitionId: string }).roleDefinitionId).toMatch(
        /^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', /,
      );
    }
  });

  it('targets the user-assigned identity of main.bicep as a service principal', () => {
    for (const a of assignments()) {
      expect(parameterName(a.principalId)).toBe('principalId');
      expect(referencesIdentity(moduleParam(a.module, 'principalId'), 'principalId')).toBe(true);
      expect(a.principalType).toBe('ServicePrincipal');
    }
  });

  it('scopes every assignment to a resource of its module, never to the resource group or subscription', () => {
    for (const a of assignments()) {
      expect(a.scope).toMatch(/^\[(resourceId|extensionResourceId)\(/);
      // The scope names a resource the same module creates: same type, same name parts.
      const type = scopeType(a.scope);
      const nameParts = a.scope.slice(a.scope.indexOf(',')).match(/(parameters|variables)\('[^']+'\)/g) ?? [];
      expect(nameParts.length).toBeGreaterThan(0);
      const target = resourcesOfType(type).filter(
        (r) => r.module === a.module && nameParts.every((part) => r.resource.name.includes(part)),
      );
      expect({ scope: a.scope, targets: target.length }).toEqual({ scope: a.scope, targets: 1 });
    }
    expect(resourcesOfType('Microsoft.Authorization/roleAssignments').filter((r) => r.module === 'main')).toHaveLength(0);
  });

  it('names assignments deterministically from scope, identity and role (re-deployable, What-If friendly)', () => {
    for (const a of assignments()) {
      expect(a.name).toMatch(/^\[guid\(resourceId\(.*\), parameters\('identityId'\), variables\('roleIds'\)\.\w+\)\]$/);
    }
  });

  it('grants no privileged or management role', () => {
    const ids = assignments().map((a) => a.roleId);
    for (const id of Object.values(PRIVILEGED)) expect(ids).not.toContain(id);
  });

  it('lets the identity read each Key Vault secret it needs, and only that secret: never the vault or another secret', () => {
    const kv = assignments().filter((a) => a.roleId === ROLE.keyVaultSecretsUser);
    expect(kv.map((a) => a.scope).sort()).toEqual(
      ['botSecretName', 'callbackSigningKeySecretName']
        .map((v) => `[resourceId('Microsoft.KeyVault/vaults/secrets', parameters('name'), variables('${v}'))]`)
        .sort(),
    );
    // Each assignment exists exactly when its secret does.
    const secrets = resourcesOfType('Microsoft.KeyVault/vaults/secrets');
    for (const a of resourcesOfType('Microsoft.Authorization/roleAssignments').filter((r) => r.module === 'keyVault')) {
      const secretName = /variables\('\w+'\)/.exec(a.resource.scope ?? '')?.[0] ?? '(none)';
      const secret = secrets.find((s) => s.module === 'keyVault' && s.resource.name.includes(secretName));
      expect({ secretName, found: secret !== undefined }).toEqual({ secretName, found: true });
      expect(a.resource.condition).toBe(secret?.resource.condition);
    }
    expect(resourcesOfType('Microsoft.Authorization/roleAssignments').filter((r) => /KeyVault\/vaults'/.test(r.resource.scope ?? ''))).toHaveLength(0);
  });

  it('creates the vault only when there is a secret to keep: a SingleTenant bot\'s client secret or a callback signing key', () => {
    const keyVault = moduleNamed('keyVault');
    expect(keyVault.resource.condition).toBe("[or(variables('isSingleTenant'), variables('hasCallbackSigningKey'))]");
    expect(mainTemplate().variables?.isSingleTenant).toBe("[equals(parameters('botAppType'), 'SingleTenant')]");
    const key = 'k'.repeat(64);
    const cases: [Record<string, unknown>, { vault: boolean; botSecret: boolean; callbackKey: boolean }][] = [
      [{}, { vault: false, botSecret: false, callbackKey: false }],
      [{ botAppType: 'SingleTenant', singleTenantAppPassword: 's' }, { vault: true, botSecret: true, callbackKey: false }],
      [{ callbackSigningKey: key }, { vault: true, botSecret: false, callbackKey: true }],
      [{ botAppType: 'SingleTenant', singleTenantAppPassword: 's', callbackSigningKey: key }, { vault: true, botSecret: true, callbackKey: true }],
    ];
    for (const [parameters, expected] of cases) {
      expect({
        parameters,
        found: {
          vault: evaluate(keyVault.resource.condition, parameters),
          botSecret: evaluate(moduleParam('keyVault', 'storeBotSecret'), parameters),
          callbackKey: evaluate(moduleParam('keyVault', 'storeCallbackSigningKey'), parameters),
        },
      }).toEqual({ parameters, found: expected });
    }
  });
});
