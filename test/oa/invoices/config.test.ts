import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../platform/config.ts';

function issues(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.variable}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('invoice configuration', () => {
  it('is off by default', () => {
    const config = loadConfig({});
    expect(config.companyTaxId).toBeNull();
    expect(config.invoiceVerifier).toBeNull();
  });

  it('reads COMPANY_TAX_ID normalised, and the verifier with its timeout', () => {
    const config = loadConfig({ COMPANY_TAX_ID: ' 91440300ma5g12345l ', INVOICE_VERIFIER_URL: 'https://verifier.example/check', INVOICE_VERIFIER_TIMEOUT_MS: '2500' });
    expect(config.companyTaxId).toBe('91440300MA5G12345L');
    expect(config.invoiceVerifier).toEqual({ url: 'https://verifier.example/check', timeoutMs: 2500 });
    expect(loadConfig({ INVOICE_VERIFIER_URL: 'http://127.0.0.1:9000/' }).invoiceVerifier).toEqual({ url: 'http://127.0.0.1:9000/', timeoutMs: 5000 });
  });

  it('refuses a tax id whose GB 32100 check character is wrong, a bad URL and a bad timeout', () => {
    expect(issues({ COMPANY_TAX_ID: '91440300MA5G12345X' })).toEqual(['COMPANY_TAX_ID: expected a unified social credit code of 18 characters: check character is X, expected L (GB 32100-2015)']);
    expect(issues({ COMPANY_TAX_ID: '9144030' })).toEqual(['COMPANY_TAX_ID: expected a unified social credit code of 18 characters: expected 18 characters, got 7']);
    expect(issues({ INVOICE_VERIFIER_URL: 'ftp://x/' })).toEqual(['INVOICE_VERIFIER_URL: expected an http(s) URL of the invoice verification interface starting with https:// or http://, got "ftp://x/"']);
    expect(issues({ INVOICE_VERIFIER_TIMEOUT_MS: '10' })).toEqual(['INVOICE_VERIFIER_TIMEOUT_MS: expected an integer 100..8000, got "10"']);
  });
});
