//! End-to-end tests of the `ksef` binary, in one test binary (one link of the whole program
//! instead of one per file): each module drives the real binary against a real emulator.

mod certificates;
mod cli;
mod durability;
mod emulator;
mod invoices;
mod local_emulator;
mod offline;
mod pacing;
mod pdf;
mod qr;
mod tampering;
