// Verifies one Sigstore bundle with sigstore-js's own verifier (@sigstore/verify), keys only:
// no transparency log, no certificate authority, no timestamp authority.
//
//   node sigstore-verify.js BUNDLE.json PUBLIC.pem [ARTIFACT]
//
// ARTIFACT is the signed bytes of a message-signature bundle; a DSSE bundle carries its own.
// The key is offered under the hint the bundle names (a hint only picks the key; the
// signature decides). Prints `verified` and exits 0, or prints the error and exits 1.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');

const [bundlePath, keyPath, artifactPath] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
const key = crypto.createPublicKey(fs.readFileSync(keyPath));
const details = key.asymmetricKeyType === 'ed25519' ? 'PKIX_ED25519' : 'PKIX_ECDSA_P256_SHA_256';
const hint = bundle.verificationMaterial.content.publicKey.hint;
const trust = toTrustMaterial(
  {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  },
  { [hint]: { rawBytes: key.export({ type: 'spki', format: 'der' }), keyDetails: details, validFor: { start: new Date(0) } } },
);
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
const artifact = artifactPath ? fs.readFileSync(artifactPath) : undefined;
try {
  verifier.verify(toSignedEntity(bundle, artifact));
  console.log('verified');
} catch (e) {
  console.log(`${e.code || 'ERROR'}: ${e.message}`);
  process.exit(1);
}
