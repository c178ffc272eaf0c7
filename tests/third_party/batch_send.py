#!/usr/bin/env python3
"""The third-party client's side of `cargo bench -p ksef-cli --bench speed`: the same batch job
as `ksef invoice send DIR --batch`, done with the pinned `ksef-client` 0.20.0 (see README.md),
so the two clients are compared on one emulator in one run.

Logs in with a fresh self-signed certificate for `--nip` (the seller of every file: the
scenario's generator), then — timed — reads every `*.xml` of `--dir`, packs them with the
library's `build_zip`, opens a batch session (`BatchSessionWorkflow.open_upload_and_close`:
encrypts the parts, uploads them, closes), polls the session until it is final and reads
every invoice status page. No local XSD check: the library has none. Prints one JSON line:
`{"invoices": N, "accepted": A, "seconds": S, "cpu_seconds": C, "session": REF}`.
Exit code 0 only when every invoice was accepted.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenario import generate_self_signed  # noqa: E402  (the scenario's test certificates)

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402
from ksef_client import KsefClient, KsefClientOptions  # noqa: E402
from ksef_client.models import FormCode  # noqa: E402
from ksef_client.services import AuthCoordinator, XadesKeyPair  # noqa: E402
from ksef_client.services.workflows import BatchSessionWorkflow  # noqa: E402
from ksef_client.utils import build_zip  # noqa: E402


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--nip", required=True)
    p.add_argument("--dir", required=True, type=Path)
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="ksef-third-party-batch-"))
    cert, key = generate_self_signed(args.nip, "seal", "ec")
    password = secrets.token_urlsafe(12)
    p12 = work / "auth.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"bench", key, cert, None, serialization.BestAvailableEncryption(password.encode())
        )
    )
    key_pair = XadesKeyPair.from_pkcs12_file(pkcs12_path=str(p12), pkcs12_password=password)

    # The emulator's pre-signed upload links are plain http on 127.0.0.1; the library refuses
    # those unless told (on TEST/PRD they are https on Azure).
    options = KsefClientOptions(
        base_url=args.base_url,
        timeout_seconds=120,
        strict_presigned_url_validation=False,
        allow_private_network_presigned_urls=True,
    )
    with KsefClient(options) as client:
        auth = AuthCoordinator(client.auth).authenticate_with_xades_key_pair(
            key_pair=key_pair,
            context_identifier_type="nip",
            context_identifier_value=args.nip,
            subject_identifier_type="certificateSubject",
            poll_interval_seconds=0.1,
        )
        token = auth.access_token

        cpu0, wall0 = time.process_time(), time.monotonic()
        files = {f.name: f.read_bytes() for f in sorted(args.dir.glob("*.xml"))}
        archive = build_zip(files)
        cert = client.security.get_public_key_certificate("SymmetricKeyEncryption")
        reference = BatchSessionWorkflow(client.sessions, client.http_client).open_upload_and_close(
            form_code=FormCode(system_code="FA (3)", schema_version="1-0E", value="FA"),
            zip_bytes=archive,
            public_certificate=cert.certificate,
            access_token=token,
            parallelism=4,
        )
        # The same polling rhythm as the library's own auth polling would allow: 100 ms.
        while True:
            status = client.sessions.get_session_status(reference, access_token=token)
            if status.status.code not in (100, 150, 170):
                break
            time.sleep(0.1)
        accepted = 0
        continuation = None
        while True:
            page = client.sessions.get_session_invoices(
                reference, page_size=1000, continuation_token=continuation, access_token=token
            )
            accepted += sum(1 for i in page.invoices if i.ksef_number)
            continuation = page.continuation_token
            if not continuation:
                break
        seconds, cpu = time.monotonic() - wall0, time.process_time() - cpu0

    print(
        json.dumps(
            {
                "invoices": len(files),
                "accepted": accepted,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                "session": reference,
            }
        )
    )
    return 0 if accepted == len(files) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
