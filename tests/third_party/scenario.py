#!/usr/bin/env python3
"""Third-party client acceptance scenario for the local KSeF 2.0 emulator.

Drives the emulator with `ksef-client` (PyPI, smekcio/ksef-client-python), a KSeF API v2
SDK that was written for the Ministry's environments and knows nothing about our
emulator. The only thing we change is its base URL.

Scenario (each numbered step must behave exactly as on the TEST environment):
  01 GET  /security/public-key-certificates   -> KsefTokenEncryption + SymmetricKeyEncryption keys
  02 self-signed test certificate (random NIP) -> PKCS#12 loaded with the library's loader
  03 POST /auth/challenge
  04 POST /auth/xades-signature               (AuthTokenRequest signed by the library's XAdES signer)
  05 GET  /auth/{ref}                         until status 200
  06 POST /auth/token/redeem                  -> accessToken + refreshToken
  07 POST /auth/token/redeem (again)          -> refused (redeem is allowed once)
  08 POST /auth/token/refresh                 -> new accessToken (used from here on)
  09 POST /tokens                             -> 202 referenceNumber + token
  10 GET  /tokens/{ref}                       until Active
  11 GET  /tokens?status=Active               -> lists the new token
  12 KSeF-token login (challenge, RSA-OAEP `token|timestampMs`, POST /auth/ksef-token,
     poll, redeem)                             -> access token of a token session
  13 POST /tokens from the token session       -> 403
  14 DELETE /tokens/{ref} with the certificate session -> 204
  15 GET  /tokens/{ref}                       until Revoked
  16 KSeF-token login with the revoked token   -> auth status 450

Exit code 0 only if every step behaved as expected; the last line is `N passed, M failed`
(plus `, K skipped` when a failure stopped the run early).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    from ksef_client import KsefClient, KsefClientOptions, KsefHttpError
    from ksef_client.models import (
        AuthenticationTokenStatus,
        GenerateTokenRequest,
        PublicKeyCertificateUsage,
        TokenPermissionType,
    )
    from ksef_client.services import (
        AuthCoordinator,
        XadesKeyPair,
        build_auth_token_request_xml,
        build_ksef_token_auth_request,
        encrypt_ksef_token,
        sign_xades_enveloped,
    )
except ImportError as exc:  # pragma: no cover - environment problem, reported clearly
    print(
        f"FATAL: cannot import the third-party client ({exc}).\n"
        "Install it first:  python3 -m venv VENV && VENV/bin/pip install -r "
        f"{Path(__file__).with_name('requirements.txt')}",
        file=sys.stderr,
    )
    sys.exit(2)

def _library_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ksef-client")
    except metadata.PackageNotFoundError:
        return "unknown"


NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
TOKEN_PERMISSIONS = [TokenPermissionType.INVOICEREAD, TokenPermissionType.INVOICEWRITE]


# --------------------------------------------------------------------------------------
# Helpers that are NOT part of the library (it has no certificate generator)
# --------------------------------------------------------------------------------------


def random_nip() -> str:
    """Random valid NIP: 9 digits + checksum (weights 6,5,7,2,3,4,5,6,7 mod 11; 10 is invalid).

    Digits 2-3 are never both 0: the invoice schema's TNIP pattern refuses such NIPs."""
    while True:
        digits = [secrets.randbelow(9) + 1] + [secrets.randbelow(10) for _ in range(8)]
        if digits[1] == 0 and digits[2] == 0:
            continue
        check = sum(w * d for w, d in zip(NIP_WEIGHTS, digits)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def nip_is_valid(nip: str) -> bool:
    if len(nip) != 10 or not nip.isdigit():
        return False
    check = sum(w * int(d) for w, d in zip(NIP_WEIGHTS, nip[:9])) % 11
    return check != 10 and check == int(nip[9])


def generate_self_signed(nip: str, subject_kind: str, key_kind: str):
    """Self-signed certificate as TEST accepts it (digest §5.2), made with `cryptography`."""
    if key_kind == "rsa":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    if subject_kind == "person":
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"),
                x509.NameAttribute(NameOID.SURNAME, "Testowy"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINPL-{nip}"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Jan Testowy"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            ]
        )
    else:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Firma Testowa {nip}"),
                x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{nip}"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Firma Testowa {nip}"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            ]
        )
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=61))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


# --------------------------------------------------------------------------------------
# Step runner
# --------------------------------------------------------------------------------------


class StepFailed(Exception):
    pass


@dataclass
class Step:
    number: int
    title: str
    via: str  # what performed the step: library API or something else
    uses_library: bool
    fn: Callable[[], str | None]


@dataclass
class Ctx:
    args: argparse.Namespace
    workdir: Path
    client: KsefClient
    nip: str = ""
    key_pair: XadesKeyPair | None = None
    token_cert_pem: str = ""
    token_public_key_id: str | None = None
    challenge: Any = None
    auth_init: Any = None
    auth_tokens: Any = None
    access_token: str = ""
    refresh_token: str = ""
    ksef_token: str = field(default="", repr=False)
    ksef_token_ref: str = ""
    token_session_access: str = field(default="", repr=False)


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise StepFailed(message)


def describe_http_error(exc: KsefHttpError) -> str:
    body = exc.response_body
    if isinstance(body, (bytes, bytearray)):
        body = body[:300].decode("utf-8", errors="replace")
    message = " ".join(str(exc.message).split())
    if len(message) > 300:
        message = message[:300] + "…"
    return f"HTTP {exc.status_code}: {message}; body={body!r}"


def short(secret: str) -> str:
    """Never print whole secrets (tokens): length and a short prefix only."""
    return f"<{len(secret)} chars, {secret[:6]}…>"


def poll(fn: Callable[[], Any], done: Callable[[Any], bool], timeout: float, interval: float):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if done(last):
            return last
        if time.monotonic() >= deadline:
            return last
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# The scenario steps
# --------------------------------------------------------------------------------------


def build_steps(c: Ctx) -> list[Step]:
    a = c.args
    steps: list[Step] = []

    def step(title: str, via: str, uses_library: bool = True):
        def deco(fn):
            steps.append(Step(len(steps) + 1, title, via, uses_library, fn))
            return fn

        return deco

    @step(
        "GET /security/public-key-certificates",
        "SecurityClient.get_public_key_certificates / get_public_key_certificate",
    )
    def _public_keys():
        certs = c.client.security.get_public_key_certificates()
        expect(len(certs) >= 1, "empty public key certificate list")
        usages = {u.value for cert in certs for u in cert.usage}
        for needed in ("KsefTokenEncryption", "SymmetricKeyEncryption"):
            expect(needed in usages, f"no certificate with usage {needed}; got usages {sorted(usages)}")
        # The library's own selection: usage + currently valid (validFrom/validTo) + latest validFrom.
        chosen = c.client.security.get_public_key_certificate(
            PublicKeyCertificateUsage.KSEFTOKENENCRYPTION
        )
        der = base64.b64decode(chosen.certificate, validate=True)
        cert = x509.load_der_x509_certificate(der)
        expect(
            isinstance(cert.public_key(), rsa.RSAPublicKey),
            "KsefTokenEncryption certificate does not carry an RSA key",
        )
        expect(chosen.public_key_id is not None, "publicKeyId missing")
        c.token_cert_pem = chosen.certificate
        c.token_public_key_id = chosen.public_key_id
        return f"{len(certs)} certificates; token key id {chosen.public_key_id}"

    @step(
        "generate self-signed test certificate, save as PKCS#12, load it",
        "cryptography (library has no generator) + XadesKeyPair.from_pkcs12_file (library)",
        uses_library=False,
    )
    def _certificate():
        c.nip = a.nip or random_nip()
        expect(nip_is_valid(c.nip), f"NIP {c.nip} fails the checksum")
        cert, key = generate_self_signed(c.nip, a.subject, a.key)
        password = secrets.token_urlsafe(12)
        p12 = pkcs12.serialize_key_and_certificates(
            b"ksef-test",
            key,
            cert,
            None,
            serialization.BestAvailableEncryption(password.encode()),
        )
        p12_path = c.workdir / "auth-cert.p12"
        p12_path.write_bytes(p12)
        (c.workdir / "auth-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        c.key_pair = XadesKeyPair.from_pkcs12_file(pkcs12_path=str(p12_path), pkcs12_password=password)
        return f"NIP {c.nip}, {a.subject}/{a.key}, subject {cert.subject.rfc4514_string()}"

    @step("POST /auth/challenge", "AuthClient.get_challenge")
    def _challenge():
        ch = c.client.auth.get_challenge()
        expect(len(ch.challenge) == 36, f"challenge {ch.challenge!r} is not a 36-char reference number")
        expect(ch.timestamp_ms > 1_600_000_000_000, f"timestampMs {ch.timestamp_ms} is not Unix ms")
        c.challenge = ch
        return f"challenge {ch.challenge}, timestampMs {ch.timestamp_ms}"

    @step(
        "POST /auth/xades-signature (signed AuthTokenRequest)",
        "build_auth_token_request_xml + sign_xades_enveloped (xmlsec) + AuthClient.submit_xades_auth_request",
    )
    def _xades():
        assert c.key_pair is not None
        xml = build_auth_token_request_xml(
            challenge=c.challenge.challenge,
            context_identifier_type="nip",
            context_identifier_value=c.nip,
            subject_identifier_type="certificateSubject",
            schema_version=a.schema_version,
        )
        signed = sign_xades_enveloped(xml, c.key_pair.certificate_pem, c.key_pair.private_key_pem)
        (c.workdir / "signed-auth-request.xml").write_text(signed, encoding="utf-8")
        verify = {"omit": None, "false": False, "true": True}[a.verify_certificate_chain]
        init = c.client.auth.submit_xades_auth_request(
            signed,
            verify_certificate_chain=verify,
            enforce_xades_compliance=a.enforce_xades_compliance,
        )
        expect(init is not None, "202 with an empty body")
        expect(len(init.reference_number) == 36, f"bad referenceNumber {init.reference_number!r}")
        expect(init.authentication_token.token != "", "authenticationToken.token missing")
        c.auth_init = init
        return f"referenceNumber {init.reference_number}, authenticationToken {short(init.authentication_token.token)}"

    @step("GET /auth/{referenceNumber} until 200", "AuthClient.get_auth_status")
    def _auth_status():
        st = poll(
            lambda: c.client.auth.get_auth_status(
                c.auth_init.reference_number, c.auth_init.authentication_token.token
            ),
            lambda s: s.status.code != 100,
            a.timeout,
            a.poll_interval,
        )
        details = f" details={st.status.details}" if st.status.details else ""
        expect(st.status.code == 200, f"auth status {st.status.code} {st.status.description!r}{details}")
        method = st.authentication_method_info.code if st.authentication_method_info else None
        return f"status 200 {st.status.description!r}, method {st.authentication_method} / {method}"

    @step("POST /auth/token/redeem", "AuthClient.redeem_token")
    def _redeem():
        tokens = c.client.auth.redeem_token(c.auth_init.authentication_token.token)
        expect(tokens.access_token.token != "", "accessToken.token missing")
        expect(tokens.refresh_token.token != "", "refreshToken.token missing")
        expect(tokens.access_token.valid_until is not None, "accessToken.validUntil missing")
        expect(tokens.refresh_token.valid_until is not None, "refreshToken.validUntil missing")
        c.auth_tokens = tokens
        c.access_token = tokens.access_token.token
        c.refresh_token = tokens.refresh_token.token
        return (
            f"accessToken {short(c.access_token)} until {tokens.access_token.valid_until}, "
            f"refreshToken until {tokens.refresh_token.valid_until}"
        )

    @step("POST /auth/token/redeem a second time -> 400", "AuthClient.redeem_token")
    def _redeem_again():
        try:
            c.client.auth.redeem_token(c.auth_init.authentication_token.token)
        except KsefHttpError as exc:
            expect(exc.status_code == 400, f"expected 400, got {describe_http_error(exc)}")
            return f"refused: HTTP {exc.status_code}"
        raise StepFailed("second redeem succeeded; KSeF allows redeeming an authentication once")

    @step("POST /auth/token/refresh", "AuthClient.refresh_access_token")
    def _refresh():
        refreshed = c.client.auth.refresh_access_token(c.refresh_token)
        expect(refreshed.access_token.token != "", "accessToken.token missing")
        c.access_token = refreshed.access_token.token
        return f"new accessToken {short(c.access_token)} until {refreshed.access_token.valid_until}"

    @step("POST /tokens (certificate session, refreshed access token)", "TokensClient.generate_token")
    def _generate():
        resp = c.client.tokens.generate_token(
            GenerateTokenRequest(description=a.token_description, permissions=TOKEN_PERMISSIONS),
            access_token=c.access_token,
        )
        expect(len(resp.reference_number) == 36, f"bad referenceNumber {resp.reference_number!r}")
        expect(resp.token != "", "token missing")
        c.ksef_token = resp.token
        c.ksef_token_ref = resp.reference_number
        return f"referenceNumber {resp.reference_number}, token {short(resp.token)}"

    @step("GET /tokens/{referenceNumber} until Active", "TokensClient.get_token_status")
    def _until_active():
        st = poll(
            lambda: c.client.tokens.get_token_status(c.ksef_token_ref, access_token=c.access_token),
            lambda s: s.status != AuthenticationTokenStatus.PENDING,
            a.timeout,
            a.poll_interval,
        )
        expect(
            st.status == AuthenticationTokenStatus.ACTIVE,
            f"token status {st.status.value}, details {st.status_details}",
        )
        expect(st.reference_number == c.ksef_token_ref, "referenceNumber differs")
        expect(
            st.context_identifier.value == c.nip,
            f"contextIdentifier {st.context_identifier} is not Nip {c.nip}",
        )
        expect(
            {p.value for p in st.requested_permissions} == {p.value for p in TOKEN_PERMISSIONS},
            f"requestedPermissions {[p.value for p in st.requested_permissions]}",
        )
        return f"Active; author {st.author_identifier.type.value} {st.author_identifier.value}"

    @step("GET /tokens?status=Active", "TokensClient.list_tokens")
    def _list():
        listed = c.client.tokens.list_tokens(access_token=c.access_token, statuses=["Active"])
        refs = [t.reference_number for t in listed.tokens]
        expect(c.ksef_token_ref in refs, f"new token {c.ksef_token_ref} not listed; got {refs}")
        bad = [t.reference_number for t in listed.tokens if t.status != AuthenticationTokenStatus.ACTIVE]
        expect(not bad, f"status=Active filter returned non-Active tokens {bad}")
        return f"{len(listed.tokens)} token(s), continuationToken={listed.continuation_token!r}"

    @step(
        "log in with the KSeF token (POST /auth/ksef-token, poll, redeem)",
        "AuthCoordinator.authenticate_with_ksef_token (challenge, RSA-OAEP token|timestampMs, submit, poll, redeem)",
    )
    def _token_login():
        result = AuthCoordinator(c.client.auth).authenticate_with_ksef_token(
            token=c.ksef_token,
            public_certificate=c.token_cert_pem,
            public_key_id=c.token_public_key_id,
            context_identifier_type="nip",
            context_identifier_value=c.nip,
            poll_interval_seconds=a.poll_interval,
            max_attempts=max(1, int(a.timeout / a.poll_interval)),
        )
        expect(result.access_token != "", "no access token from the token session")
        c.token_session_access = result.access_token
        return f"auth {result.reference_number}, accessToken {short(result.access_token)}"

    @step("POST /tokens from the token session -> 403", "TokensClient.generate_token")
    def _generate_refused():
        try:
            resp = c.client.tokens.generate_token(
                GenerateTokenRequest(description="minted from a token session", permissions=[TokenPermissionType.INVOICEREAD]),
                access_token=c.token_session_access,
            )
        except KsefHttpError as exc:
            expect(exc.status_code == 403, f"expected 403, got {describe_http_error(exc)}")
            reason = getattr(exc.problem, "reason_code", None)
            return f"refused: HTTP 403, reasonCode={reason!r}, problem={type(exc.problem).__name__}"
        raise StepFailed(f"token session was allowed to mint token {resp.reference_number}")

    @step("DELETE /tokens/{referenceNumber} (certificate session) -> 204", "TokensClient.revoke_token")
    def _revoke():
        c.client.tokens.revoke_token(c.ksef_token_ref, access_token=c.access_token)
        return "204"

    @step("GET /tokens/{referenceNumber} until Revoked", "TokensClient.get_token_status")
    def _until_revoked():
        st = poll(
            lambda: c.client.tokens.get_token_status(c.ksef_token_ref, access_token=c.access_token),
            lambda s: s.status == AuthenticationTokenStatus.REVOKED,
            a.timeout,
            a.poll_interval,
        )
        expect(st.status == AuthenticationTokenStatus.REVOKED, f"token status {st.status.value}")
        return "Revoked"

    @step(
        "log in with the revoked KSeF token -> auth status 450",
        "AuthClient.get_challenge + encrypt_ksef_token + build_ksef_token_auth_request + "
        "AuthClient.submit_ksef_token_auth + AuthClient.get_auth_status",
    )
    def _revoked_login():
        ch = c.client.auth.get_challenge()
        encrypted = encrypt_ksef_token(
            public_certificate=c.token_cert_pem, token=c.ksef_token, timestamp_ms=ch.timestamp_ms
        )
        init = c.client.auth.submit_ksef_token_auth(
            build_ksef_token_auth_request(
                challenge=ch.challenge,
                context_identifier_type="nip",
                context_identifier_value=c.nip,
                encrypted_token_base64=encrypted,
                public_key_id=c.token_public_key_id,
            )
        )
        st = poll(
            lambda: c.client.auth.get_auth_status(init.reference_number, init.authentication_token.token),
            lambda s: s.status.code != 100,
            a.timeout,
            a.poll_interval,
        )
        expect(
            st.status.code == 450,
            f"expected auth status 450, got {st.status.code} {st.status.description!r} {st.status.details}",
        )
        try:
            c.client.auth.redeem_token(init.authentication_token.token)
        except KsefHttpError as exc:
            expect(exc.status_code == 400, f"redeem after 450: expected 400, got {describe_http_error(exc)}")
        else:
            raise StepFailed("tokens were redeemed for a failed (450) authentication")
        return f"status 450 {st.status.description!r} details={st.status.details}; redeem refused"

    return steps


# --------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True, help="API base URL, e.g. http://127.0.0.1:8080/v2")
    p.add_argument("--workdir", type=Path, help="where certificates and the signed XML are kept (default: a temp dir)")
    p.add_argument("--nip", help="context NIP (default: random valid NIP)")
    p.add_argument("--subject", choices=["person", "seal"], default="person",
                   help="person: serialNumber=TINPL-<nip>; seal: organizationIdentifier=VATPL-<nip>")
    p.add_argument("--key", choices=["rsa", "ec"], default="rsa", help="RSA-2048 or EC P-256")
    p.add_argument("--schema-version", choices=["2.0", "2.1"], default="2.1",
                   help="AuthTokenRequest namespace (library default 2.1)")
    p.add_argument("--verify-certificate-chain", choices=["omit", "false", "true"], default="omit",
                   help="?verifyCertificateChain= on /auth/xades-signature (library default: omitted)")
    p.add_argument("--enforce-xades-compliance", action="store_true",
                   help="send X-KSeF-Feature: enforce-xades-compliance")
    p.add_argument("--problem-details", action="store_true",
                   help="send X-Error-Format: problem-details on every request (as the library's CLI does)")
    p.add_argument("--token-description", default="Acceptance test token (third-party client)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds for each polling loop")
    p.add_argument("--poll-interval", type=float, default=0.5)
    p.add_argument("--http-timeout", type=float, default=30.0)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ksef-third-party-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"third-party client: ksef-client {_library_version()} (PyPI), Python {sys.version.split()[0]}")
    print(f"base URL: {args.base_url}   workdir: {workdir}")

    options = KsefClientOptions(
        base_url=args.base_url,
        timeout_seconds=args.http_timeout,
        custom_headers={"X-Error-Format": "problem-details"} if args.problem_details else None,
    )
    with KsefClient(options) as client:
        ctx = Ctx(args=args, workdir=workdir, client=client)
        steps = build_steps(ctx)
        passed = 0
        failed = 0
        for s in steps:
            label = f"[{s.number:02d}] {s.title}"
            try:
                info = s.fn()
            except StepFailed as exc:
                print(f"FAIL {label}\n     -> {exc}\n     (via {s.via})")
                failed += 1
            except KsefHttpError as exc:
                kind = "network error" if exc.status_code == 0 else "unexpected HTTP error"
                print(f"FAIL {label}\n     -> {kind}: {describe_http_error(exc)}\n     (via {s.via})")
                failed += 1
            except Exception as exc:  # library raised on a response it could not parse, etc.
                print(f"FAIL {label}\n     -> {type(exc).__name__}: {exc}\n     (via {s.via})")
                traceback.print_exc(limit=6, file=sys.stdout)
                failed += 1
            else:
                passed += 1
                print(f"PASS {label}\n     -> {info}\n     (via {s.via})")
            if failed:
                break

        print()
        print("steps done through the library's own API:")
        for s in steps:
            if s.uses_library:
                print(f"  [{s.number:02d}] {s.title}: {s.via}")
        print("steps NOT done through the library (it has no API for them):")
        for s in steps:
            if not s.uses_library:
                print(f"  [{s.number:02d}] {s.title}: {s.via}")
        skipped = len(steps) - passed - failed
        summary = f"{passed} passed, {failed} failed"
        if skipped:
            summary += f", {skipped} skipped"
        print(summary)
        return 0 if failed == 0 and passed == len(steps) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
