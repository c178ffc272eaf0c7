"""Schemathesis hooks of the fuzzing run (loaded through SCHEMATHESIS_HOOKS by run.sh).

`status_code_conformance_ksef` is schemathesis' own `status_code_conformance` with one
exemption, the one undocumented status the real service is known to give: 415 for a request
that carries no Content-Type where the operation takes a body (ASP.NET answers that before any
KSeF code runs, and the emulator does the same on purpose). Every other undocumented status —
404, 405, 413, any 5xx — still fails the run.
"""

import schemathesis
from schemathesis.specs.openapi.checks import status_code_conformance


@schemathesis.check
def status_code_conformance_ksef(ctx, response, case):
    sent = {name.lower() for name in response.request.headers}
    if response.status_code == 415 and "content-type" not in sent:
        return None
    return status_code_conformance(ctx, response, case)
