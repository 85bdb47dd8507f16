import { AzureNamedKeyCredential, TableClient, generateTableSas } from '@azure/data-tables';
import { Tables } from '../../shared/stores/tables';
import { storageConnectionString, uniqueName } from '../support/azurite';

/**
 * The health probe must work with what the app's identity is granted in Azure: a data role on
 * entities (Storage Table Data Contributor), not the account key. A SAS that may only query
 * entities stands for that role here: Azurite refuses it everything else, Get Table ACL included.
 */
describe('the storage health probe', () => {
  const prefix = uniqueName();
  const connectionString = storageConnectionString();
  const setting = (name: string) => new RegExp(`${name}=([^;]+)`).exec(connectionString)?.[1] ?? '';
  const tableEndpoint = setting('TableEndpoint');
  const credential = new AzureNamedKeyCredential(setting('AccountName'), setting('AccountKey'));
  const queryOnly = (table: string) =>
    `TableEndpoint=${tableEndpoint};SharedAccessSignature=${generateTableSas(table, credential, { permissions: { query: true }, expiresOn: new Date(Date.now() + 3600_000) }).replace(/^\?/, '')}`;

  beforeAll(async () => {
    await new Tables({ kind: 'connectionString', connectionString, prefix }).ensureCreated();
  });

  it('answers with only the right to query entities, where Get Table ACL is refused', async () => {
    const restricted = queryOnly(`${prefix}notifications`);
    await expect(new Tables({ kind: 'connectionString', connectionString: restricted, prefix }).ping()).resolves.toBeUndefined();
    // The call the probe used before needs more than a data role: proof the SAS above is narrow.
    await expect(TableClient.fromConnectionString(restricted, `${prefix}notifications`, { allowInsecureConnection: true }).getAccessPolicy()).rejects.toMatchObject({ statusCode: 403 });
  });

  it('fails when the table does not exist', async () => {
    await expect(new Tables({ kind: 'connectionString', connectionString, prefix: uniqueName() }).ping()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('fails when storage does not answer, within the signal', async () => {
    const unreachable = connectionString.replace(/TableEndpoint=http:\/\/[^/;]+/, 'TableEndpoint=http://127.0.0.1:9');
    await expect(new Tables({ kind: 'connectionString', connectionString: unreachable, prefix }).ping(AbortSignal.timeout(3000))).rejects.toBeDefined();
  });
});
