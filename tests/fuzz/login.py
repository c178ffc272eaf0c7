#!/usr/bin/env python3
"""Logs in to a KSeF API as the owner of a fresh random NIP with the pinned third-party client
(ksef-client, as tests/third_party/scenario.py does) and writes the access token to a file
(mode 0600). Prints only the NIP. Usage: login.py BASE_URL TOKEN_FILE"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "third_party"))
from scenario import generate_self_signed, random_nip  # noqa: E402  (same pinned client)

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402
from ksef_client import KsefClient, KsefClientOptions  # noqa: E402
from ksef_client.services import (  # noqa: E402
    XadesKeyPair,
    build_auth_token_request_xml,
    sign_xades_enveloped,
)


def main(base_url: str, token_file: str) -> int:
    nip = random_nip()
    cert, key = generate_self_signed(nip, "seal", "ec")
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp:
        p12 = Path(tmp) / "seal.p12"
        p12.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"fuzz", key, cert, None,
                serialization.BestAvailableEncryption(password.encode()),
            )
        )
        pair = XadesKeyPair.from_pkcs12_file(pkcs12_path=str(p12), pkcs12_password=password)
    with KsefClient(KsefClientOptions(base_url=base_url)) as client:
        challenge = client.auth.get_challenge()
        xml = build_auth_token_request_xml(
            challenge=challenge.challenge,
            context_identifier_type="nip",
            context_identifier_value=nip,
            subject_identifier_type="certificateSubject",
        )
        signed = sign_xades_enveloped(xml, pair.certificate_pem, pair.private_key_pem)
        init = client.auth.submit_xades_auth_request(signed, verify_certificate_chain=False)
        deadline = time.monotonic() + 30
        while True:
            status = client.auth.get_auth_status(
                init.reference_number, init.authentication_token.token
            )
            if status.status.code != 100 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if status.status.code != 200:
            print(f"login failed: status {status.status.code} {status.status.description}",
                  file=sys.stderr)
            return 1
        tokens = client.auth.redeem_token(init.authentication_token.token)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(tokens.access_token.token)
    print(nip)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
