#!/usr/bin/env python3
"""Minimal in-memory KSeF stub used ONLY to self-test scenario.py.

This is NOT the emulator and proves nothing about it. It implements just enough of the
endpoints the acceptance scenario touches (with TEST-like responses taken from the API
digest) so that changes to scenario.py can be checked without the Rust emulator:

    python3 stub_server.py --port 18080 --log requests.log &
    python3 scenario.py --base-url http://127.0.0.1:18080/v2

It verifies the XAdES signature with python-xmlsec (installed with ksef-client[xml]),
decrypts the RSA-OAEP `token|timestampMs` and writes every request it receives (method,
path, query, headers, body preview) to --log, which is how NOTES-for-emulator.md was
checked against the wire.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

LOCK = threading.Lock()


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def ref(kind: str) -> str:
    h = secrets.token_hex(11).upper()
    return f"{dt.date.today():%Y%m%d}-{kind}-{h[:10]}-{h[10:20]}-{h[20:22]}"


def make_mf_cert(usage: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Stub {usage}")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    entry = {
        "certificate": base64.b64encode(der).decode(),
        "certificateId": base64.b64encode(hashlib.sha256(der).digest()).decode(),
        "publicKeyId": base64.b64encode(hashlib.sha256(spki).digest()).decode(),
        "validFrom": cert.not_valid_before_utc.isoformat(),
        "validTo": cert.not_valid_after_utc.isoformat(),
        "usage": [usage],
    }
    return key, entry


TOKEN_KEY, TOKEN_CERT = make_mf_cert("KsefTokenEncryption")
_, SYM_CERT = make_mf_cert("SymmetricKeyEncryption")

CHALLENGES: dict[str, int] = {}  # challenge -> timestampMs
AUTHS: dict[str, dict] = {}  # auth ref -> {status, nip, method, auth_token, redeemed, ksef_token_ref}
BEARERS: dict[str, dict] = {}  # token string -> {kind, auth_ref}
TOKENS: dict[str, dict] = {}  # ksef token ref -> record


def verify_xades(xml: bytes) -> tuple[bool, str, x509.Certificate | None]:
    import xmlsec
    from lxml import etree

    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    sig = xmlsec.tree.find_node(doc, xmlsec.constants.NodeSignature)
    if sig is None:
        return False, "no signature", None
    cert_el = sig.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    cert = x509.load_der_x509_certificate(base64.b64decode("".join(cert_el.text.split())))
    xmlsec.tree.add_ids(doc, ["Id"])
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(
        cert.public_bytes(serialization.Encoding.PEM), xmlsec.KeyFormat.CERT_PEM, None
    )
    try:
        ctx.verify(sig)
    except xmlsec.Error as exc:
        return False, f"signature invalid: {exc}", cert
    return True, "ok", cert


def nip_from_cert(cert: x509.Certificate) -> str | None:
    for oid, rx in ((NameOID.SERIAL_NUMBER, r"(?:TINPL|NIP).*?(\d{10})"),
                    (NameOID.ORGANIZATION_IDENTIFIER, r"VATPL.*?(\d{10})")):
        for attr in cert.subject.get_attributes_for_oid(oid):
            m = re.search(rx, attr.value)
            if m:
                return m.group(1)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_file = None

    def log_message(self, *args):  # silence default stderr logging
        pass

    # ---- plumbing ----
    def _send(self, status: int, body=None, ctype="application/json"):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _problem(self, status: int, detail: str, **extra):
        self._send(status, {"title": "stub", "status": status, "detail": detail, **extra},
                   "application/problem+json")

    def _bearer(self):
        h = self.headers.get("Authorization", "")
        return BEARERS.get(h[7:]) if h.startswith("Bearer ") else None

    def _record(self, body: bytes):
        if self.log_file:
            with LOCK, open(self.log_file, "a") as f:
                f.write(json.dumps({
                    "method": self.command, "path": self.path,
                    "headers": {k: (v if k.lower() != "authorization" else v[:13] + "…")
                                for k, v in self.headers.items()},
                    "body": body[:400].decode("utf-8", "replace"),
                }) + "\n")

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._record(body)
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        if not path.startswith("/v2/"):
            return self._problem(404, "not under /v2")
        route = (self.command, path[3:])
        with LOCK:
            return self._route(route, query, body)

    do_GET = do_POST = do_DELETE = _dispatch

    # ---- endpoints ----
    def _route(self, route, query, body):
        method, p = route
        b = self._bearer()
        if route == ("GET", "/security/public-key-certificates"):
            return self._send(200, [TOKEN_CERT, SYM_CERT])
        if route == ("POST", "/auth/challenge"):
            ch, ms = ref("CR"), int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
            CHALLENGES[ch] = ms
            ts = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
            return self._send(200, {"challenge": ch, "timestamp": ts, "timestampMs": ms, "clientIp": "127.0.0.1"})
        if route == ("POST", "/auth/xades-signature"):
            ok, why, cert = verify_xades(body)
            if not ok:
                return self._problem(400, why)
            text = body.decode()
            ch = re.search(r"<Challenge>([^<]+)</Challenge>", text).group(1)
            ctx_nip = re.search(r"<Nip>(\d{10})</Nip>", text).group(1)
            if CHALLENGES.pop(ch, None) is None:
                return self._problem(400, "21111 invalid challenge")
            status = (200, "Uwierzytelnianie zakończone sukcesem", None)
            if nip_from_cert(cert) != ctx_nip:
                status = (415, "Uwierzytelnianie zakończone niepowodzeniem", ["Brak przypisanych uprawnień"])
            return self._new_auth(ctx_nip, "QualifiedSignature", status, None)
        if route == ("POST", "/auth/ksef-token"):
            req = json.loads(body)
            ms = CHALLENGES.pop(req["challenge"], None)
            if ms is None:
                return self._problem(400, "21111 invalid challenge")
            plain = TOKEN_KEY.decrypt(base64.b64decode(req["encryptedToken"]), padding.OAEP(
                mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)).decode()
            token, _, ts = plain.rpartition("|")
            tok = next((t for t in TOKENS.values() if t["secret"] == token), None)
            status = (200, "Uwierzytelnianie zakończone sukcesem", None)
            if ts != str(ms):
                status = (450, "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu", ["Nieprawidłowy czas tokena"])
            elif tok is None or tok["context"] != req["contextIdentifier"]["value"]:
                status = (450, "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu", ["Nieprawidłowy token"])
            elif tok["status"] != "Active":
                detail = "Token unieważniony" if tok["status"] in ("Revoking", "Revoked") else "Token nieaktywny"
                status = (450, "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu", [detail])
            return self._new_auth(req["contextIdentifier"]["value"], "Token", status, tok and tok["ref"])
        m = re.fullmatch(r"/auth/([0-9A-Z-]{36})", p)
        if method == "GET" and m:
            a = AUTHS.get(m.group(1))
            if not b or b["kind"] != "auth" or b["auth_ref"] != m.group(1):
                return self._problem(401, "bad bearer")
            st = {"code": a["status"][0], "description": a["status"][1]}
            if a["status"][2]:
                st["details"] = a["status"][2]
            cat = "Token" if a["method"] == "Token" else "XadesSignature"
            return self._send(200, {
                "startDate": a["start"], "authenticationMethod": a["method"],
                "authenticationMethodInfo": {"category": cat, "code": cat.lower(), "displayName": cat},
                "status": st, "isTokenRedeemed": a["redeemed"],
            })
        if route == ("POST", "/auth/token/redeem"):
            if not b or b["kind"] != "auth":
                return self._problem(401, "bad bearer")
            a = AUTHS[b["auth_ref"]]
            if a["redeemed"] or a["status"][0] != 200:
                return self._send(400, {"exception": {"exceptionDetailList": [
                    {"exceptionCode": 21301, "exceptionDescription": "Brak autoryzacji."}]}})
            a["redeemed"] = True
            return self._send(200, {"accessToken": self._issue("access", b["auth_ref"]),
                                    "refreshToken": self._issue("refresh", b["auth_ref"], days=7)})
        if route == ("POST", "/auth/token/refresh"):
            if not b or b["kind"] != "refresh":
                return self._problem(401, "bad bearer")
            return self._send(200, {"accessToken": self._issue("access", b["auth_ref"])})
        # ---- tokens ----
        if p == "/tokens" or p.startswith("/tokens/"):
            if not b or b["kind"] != "access":
                return self._problem(401, "bad bearer")
            a = AUTHS[b["auth_ref"]]
            if route == ("POST", "/tokens"):
                if a["method"] == "Token":
                    return self._problem(403, "token session may not mint tokens",
                                         reasonCode="auth-method-not-allowed")
                req = json.loads(body)
                r = ref("EC")
                secret = f"{r}|nip-{a['nip']}|{secrets.token_hex(32)}"
                TOKENS[r] = {"ref": r, "secret": secret, "status": "Pending", "context": a["nip"],
                             "author": a["nip"], "description": req["description"],
                             "permissions": req["permissions"], "created": now_iso(), "polls": 0}
                return self._send(202, {"referenceNumber": r, "token": secret})
            if route == ("GET", "/tokens"):
                wanted = query.get("status")
                items = [self._token_view(t) for t in TOKENS.values()
                         if t["context"] == a["nip"] and (not wanted or t["status"] in wanted)]
                return self._send(200, {"continuationToken": None, "tokens": items})
            t = TOKENS.get(p[len("/tokens/"):])
            if t is None:
                return self._problem(404, "no such token")
            if method == "GET":
                t["polls"] += 1  # Pending for the first poll, then Active (asynchronous activation)
                if t["status"] == "Pending" and t["polls"] > 1:
                    t["status"] = "Active"
                elif t["status"] == "Revoking":
                    t["status"] = "Revoked"
                return self._send(200, self._token_view(t))
            if method == "DELETE":
                t["status"] = "Revoking"
                return self._send(204)
        return self._problem(404, f"stub does not implement {method} {p}")

    def _new_auth(self, nip, method, status, ksef_token_ref):
        r = ref("AU")
        tok = self._issue("auth", r, minutes=45)
        AUTHS[r] = {"status": status, "nip": nip, "method": method, "redeemed": False,
                    "start": now_iso(), "ksef_token_ref": ksef_token_ref}
        return self._send(202, {"referenceNumber": r, "authenticationToken": tok})

    def _issue(self, kind, auth_ref, minutes=15, days=0):
        token = "stub." + secrets.token_urlsafe(24) + ".sig"
        BEARERS[token] = {"kind": kind, "auth_ref": auth_ref}
        until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes, days=days)
        return {"token": token, "validUntil": until.isoformat()}

    @staticmethod
    def _token_view(t):
        return {"referenceNumber": t["ref"], "authorIdentifier": {"type": "Nip", "value": t["author"]},
                "contextIdentifier": {"type": "Nip", "value": t["context"]},
                "description": t["description"], "requestedPermissions": t["permissions"],
                "dateCreated": t["created"], "lastUseDate": None, "status": t["status"],
                "statusDetails": []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--log", help="append every request as a JSON line to this file")
    a = ap.parse_args()
    Handler.log_file = a.log
    ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
