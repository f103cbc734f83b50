"""Verifies the DSSE envelope of a Sigstore bundle with in-toto's and securesystemslib's own
code, and prints the in-toto statement it signs.

    python3 intoto-verify.py BUNDLE.json PUBLIC.pem

The key's id is computed here, independently, as the hex SHA-256 of its SubjectPublicKeyInfo
(what the bundle's hint and the envelope's keyid must be); securesystemslib only considers
signatures whose keyid matches. Exit 0 and the statement on stdout, or exit 1 with the error.
"""

import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from in_toto.models.metadata import Envelope
from securesystemslib.signer import SSlibKey

bundle_path, key_path = sys.argv[1:3]
with open(bundle_path, "rb") as f:
    bundle = json.load(f)
with open(key_path, "rb") as f:
    public = serialization.load_pem_public_key(f.read())
der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
keyid = hashlib.sha256(der).hexdigest()
if isinstance(public, ec.EllipticCurvePublicKey):
    scheme = "ecdsa-sha2-nistp256"
elif isinstance(public, ed25519.Ed25519PublicKey):
    scheme = "ed25519"
else:
    sys.exit(f"unsupported key {type(public).__name__}")
key = SSlibKey.from_crypto(public, keyid=keyid, scheme=scheme)
envelope = Envelope.from_dict(bundle["dsseEnvelope"])
try:
    envelope.verify([key], 1)
except Exception as e:  # noqa: BLE001 - every failure is reported the same way
    print(f"{type(e).__name__}: {e}")
    sys.exit(1)
sys.stdout.write(base64.b64decode(bundle["dsseEnvelope"]["payload"]).decode())
