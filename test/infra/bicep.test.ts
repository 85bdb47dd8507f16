/** infra/main.bicep and main.bicepparam compile, with no linter warning or error. */
import { readFileSync } from 'node:fs';
import { MAIN_BICEPPARAM, allResources, buildMain, buildParams, mainTemplate } from './arm';

describe('bicep build', () => {
  it('compiles infra/main.bicep with zero warnings and zero errors', () => {
    const { diagnostics } = buildMain();
    expect(diagnostics).not.toMatch(/\b(Warning|Error)\b/);
  });

  it('compiles infra/main.bicepparam against main.bicep, with a value for every required parameter', () => {
    const { json, diagnostics } = buildParams();
    expect(diagnostics).not.toMatch(/\b(Warning|Error)\b/);
    const values = (json as { parameters: Record<string, unknown> }).parameters;
    const required = Object.entries(mainTemplate().parameters ?? {})
      .filter(([, p]) => !('defaultValue' in p))
      .map(([name]) => name);
    for (const name of required) expect(Object.keys(values)).toContain(name);
    // A secret never sits in the parameters file: it is passed with -p on the command line.
    for (const secret of ['singleTenantAppPassword', 'callbackSigningKey']) expect(Object.keys(values)).not.toContain(secret);
    const text = readFileSync(MAIN_BICEPPARAM, 'utf8');
    expect(text).not.toMatch(/^\s*param\s+(singleTenantAppPassword|callbackSigningKey)\b/m);
    // ... and the file says how to pass the callback key (a fresh random one, 64 hex characters).
    expect(text).toMatch(/^\/\/.*-p callbackSigningKey=\$\(openssl rand -hex 32\)/m);
  });

  it('uses stable (non-preview) API versions only', () => {
    for (const { resource } of allResources()) {
      expect(`${resource.type}@${resource.apiVersion}`).not.toMatch(/preview/i);
    }
  });

  it('describes every parameter and output of main.bicep', () => {
    const t = mainTemplate();
    for (const [name, p] of Object.entries(t.parameters ?? {})) {
      expect({ name, description: (p.metadata as { description?: string } | undefined)?.description }).toEqual({
        name,
        description: expect.any(String),
      });
    }
    for (const [name, o] of Object.entries(t.outputs ?? {})) {
      expect({ name, description: ((o as { metadata?: { description?: string } }).metadata)?.description }).toEqual({
        name,
        description: expect.any(String),
      });
    }
  });
});
