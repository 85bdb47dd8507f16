import { ConfigError, DEFAULT_APP_NAME, loadConfig, SETTINGS } from '../../shared/config';

const local = { STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' };

describe('loadConfig', () => {
  it('runs locally with only a storage connection string, on the Azurite queue, with the documented defaults', () => {
    const config = loadConfig(local);
    expect(config).toMatchObject({ queueTransport: 'storage-queue', sendRatePerSecond: 50, maxAttempts: 6, maxDeliveryCount: 10, appName: DEFAULT_APP_NAME, allowedTenants: [] });
    expect(DEFAULT_APP_NAME).toBe('Teams Notify');
    expect(config.botAppId).toBeUndefined();
  });

  it('fails at start, naming the setting, when nothing says where the tables are', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({})).toThrow(/STORAGE_CONNECTION_STRING.*STORAGE_TABLE_ENDPOINT/);
  });

  it('needs a namespace or a connection string for Service Bus', () => {
    const azure = {
      STORAGE_TABLE_ENDPOINT: 'https://acct.table.core.windows.net',
      STORAGE_BLOB_ENDPOINT: 'https://acct.blob.core.windows.net',
      QUEUE_TRANSPORT: 'servicebus',
      MicrosoftAppId: 'app',
    };
    expect(() => loadConfig(azure)).toThrow(new RegExp(SETTINGS.serviceBusNamespace));
    expect(loadConfig({ ...azure, [SETTINGS.serviceBusNamespace]: 'ns.servicebus.windows.net' }).serviceBusNamespace).toBe('ns.servicebus.windows.net');
  });

  it('with a managed identity, needs the blob endpoint as well as the table endpoint', () => {
    expect(() => loadConfig({ STORAGE_TABLE_ENDPOINT: 'https://acct.table.core.windows.net', QUEUE_TRANSPORT: 'servicebus' })).toThrow(/STORAGE_BLOB_ENDPOINT/);
  });

  it('refuses to run an open bot endpoint in Azure: no app id there is an error', () => {
    expect(() => loadConfig({ ...local, WEBSITE_INSTANCE_ID: 'abc' })).toThrow(/MicrosoftAppId must be set in Azure/);
    expect(loadConfig({ ...local, WEBSITE_INSTANCE_ID: 'abc', MicrosoftAppId: 'app-id' }).botAppId).toBe('app-id');
  });

  it('reads APP_NAME, and the deprecated APP_DISPLAY_NAME only when APP_NAME is unset', () => {
    expect(SETTINGS.appName).toBe('APP_NAME');
    expect(loadConfig({ ...local, APP_NAME: ' Contoso Alerts ' }).appName).toBe('Contoso Alerts');
    expect(loadConfig({ ...local, APP_DISPLAY_NAME: 'Old Name' }).appName).toBe('Old Name');
    expect(loadConfig({ ...local, APP_NAME: 'New Name', APP_DISPLAY_NAME: 'Old Name' }).appName).toBe('New Name');
    expect(loadConfig({ ...local, APP_NAME: '', APP_DISPLAY_NAME: '' }).appName).toBe(DEFAULT_APP_NAME);
    // It is the manifest's short name too: Teams allows 30 characters.
    expect(() => loadConfig({ ...local, APP_NAME: 'x'.repeat(31) })).toThrow(/APP_NAME/);
  });

  it('parses the tenant allow-list case-insensitively and rejects out-of-range numbers', () => {
    expect(loadConfig({ ...local, ALLOWED_TENANT_IDS: ' Tenant-A ,tenant-b,, ' }).allowedTenants).toEqual(['tenant-a', 'tenant-b']);
    expect(() => loadConfig({ ...local, SEND_RATE_PER_SECOND: '0' })).toThrow(/SEND_RATE_PER_SECOND/);
    expect(() => loadConfig({ ...local, MAX_DELIVERY_ATTEMPTS: 'many' })).toThrow(/MAX_DELIVERY_ATTEMPTS/);
  });

  it('reads LOG_FORMAT as text (the default) or json, and refuses anything else at start', () => {
    expect(loadConfig(local).logFormat).toBe('text');
    expect(loadConfig({ ...local, LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(() => loadConfig({ ...local, LOG_FORMAT: 'xml' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...local, LOG_FORMAT: 'JSON' })).toThrow(/LOG_FORMAT/);
  });
});
