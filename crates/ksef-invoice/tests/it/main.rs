//! Integration tests of `ksef-invoice`, in one test binary: UPO parsing, the vendored XSDs,
//! invoice verification, and agreement with `xmllint` as an independent validator.

mod upo;
mod vendored_schemas;
mod verify;
mod xmllint_agreement;
