// Transport security of the controller's gRPC port (DESIGN §5): TLS 1.3 only, the serving
// certificate the CA library issues (`issueServingCertificate`), swappable on renewal.
import * as grpc from "@grpc/grpc-js";
import type { SecureContextOptions } from "node:tls";

export interface TlsMaterial {
  /** PEM trust bundle client certificates are verified against. */
  readonly ca: string;
  /** PEM chain, leaf first. */
  readonly certChainPem: string;
  readonly keyPem: string;
}

function contextOf(m: TlsMaterial): SecureContextOptions {
  return { ca: m.ca, cert: m.certChainPem, key: m.keyPem };
}

/**
 * grpc-js server credentials with TLS 1.3 only. Client certificates are requested and verified
 * against `ca` when sent, but not required: a ztunnel gets its first certificate from this very
 * port, authenticated by its token. `update` swaps the certificate on a running server (renewal)
 * through grpc-js's secure-context watcher.
 */
export class TlsServerCredentials extends grpc.ServerCredentials {
  constructor(material: TlsMaterial) {
    super({ minVersion: "TLSv1.3", requestCert: true, rejectUnauthorized: false }, contextOf(material));
  }
  update(material: TlsMaterial): void {
    this.updateSecureContextOptions(contextOf(material));
  }
  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
