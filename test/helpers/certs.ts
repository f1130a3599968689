/**
 * Test certificates, made at test time (no key is committed): a CA, a server certificate for
 * localhost/127.0.0.1 and client certificates, all signed by that CA, written as PEM files.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** A certificate and its key, as PEM text and as files. */
export interface CertFiles {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** A CA that signs server and client certificates. */
export interface TestCa extends CertFiles {
  server(): Promise<CertFiles>;
  client(cn: string): Promise<CertFiles>;
}

const ALGORITHM = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } as const;

/** A fresh CA named `name`, its files under a new temporary directory. */
export async function createTestCa(name: string): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), `tessera-ca-${name}-`));
  const write = (base: string, pems: { cert: string; private: string }): CertFiles => {
    const certFile = join(dir, `${base}.crt`);
    const keyFile = join(dir, `${base}.key`);
    writeFileSync(certFile, pems.cert);
    writeFileSync(keyFile, pems.private, { mode: 0o600 });
    return { cert: pems.cert, key: pems.private, certFile, keyFile };
  };
  const ca = write(
    'ca',
    await generate([{ name: 'commonName', value: `${name} test CA` }], {
      ...ALGORITHM,
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ],
    }),
  );
  const signed = (cn: string, extensions: NonNullable<Parameters<typeof generate>[1]>['extensions']) =>
    generate([{ name: 'commonName', value: cn }], {
      ...ALGORITHM,
      ca: { cert: ca.cert, key: ca.key },
      extensions,
    });
  return {
    ...ca,
    server: async () =>
      write(
        'server',
        await signed('localhost', [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
          // clientAuth too: coordinator replicas present it to each other when a standby forwards.
          { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
          {
            name: 'subjectAltName',
            altNames: [
              { type: 2, value: 'localhost' },
              { type: 7, ip: '127.0.0.1' },
            ],
          },
        ]),
      ),
    client: async (cn: string) =>
      write(
        `client-${cn}`,
        await signed(cn, [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true },
          { name: 'extKeyUsage', clientAuth: true },
        ]),
      ),
  };
}
