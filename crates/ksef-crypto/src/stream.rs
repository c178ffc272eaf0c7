//! Streaming forms of the envelope primitives (digest §3.2), for data that must not be held in
//! memory whole (batch parts up to 100 MB, export parts, whole archives up to 5 GB):
//!
//! * [`CbcEncryptWriter`] — AES-256-CBC with PKCS#7 padding, encrypting block by block into
//!   any [`Write`]; the output equals [`aes256_cbc_encrypt`](crate::envelope::aes256_cbc_encrypt)
//!   of the same bytes.
//! * [`CbcDecryptWriter`] — the reverse: ciphertext in, plaintext out, the padding checked and
//!   stripped at [`finish`](CbcDecryptWriter::finish).
//! * [`HashingWriter`] / [`HashingReader`] — pass bytes through and count them and their
//!   SHA-256 (KSeF's `*Size`/`*Hash` fields).
//!
//! Memory use is constant: at most one internal chunk (64 KiB) plus one block.

use std::io::{self, Write};

use aes::cipher::{Array, Block, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// AES block size.
const BLOCK: usize = 16;
/// How many bytes are processed (and written to the inner writer) at once.
const CHUNK: usize = 64 * 1024;

fn encrypt_in_place(enc: &mut Aes256CbcEnc, buf: &mut [u8]) {
    let (blocks, rest) = Array::slice_as_chunks_mut(buf);
    debug_assert!(rest.is_empty());
    let blocks: &mut [Block<Aes256CbcEnc>] = blocks;
    enc.encrypt_blocks(blocks);
}

fn decrypt_in_place(dec: &mut Aes256CbcDec, buf: &mut [u8]) {
    let (blocks, rest) = Array::slice_as_chunks_mut(buf);
    debug_assert!(rest.is_empty());
    let blocks: &mut [Block<Aes256CbcDec>] = blocks;
    dec.decrypt_blocks(blocks);
}

/// AES-256-CBC/PKCS#7 encryption into `W`, block by block. Call [`finish`](Self::finish) to
/// write the final padded block; dropping the writer without it loses the last block.
pub struct CbcEncryptWriter<W: Write> {
    inner: W,
    enc: Aes256CbcEnc,
    /// Plaintext not yet encrypted: always fewer than [`CHUNK`] bytes between calls.
    pending: Vec<u8>,
}

impl<W: Write> CbcEncryptWriter<W> {
    /// Encrypts with `key`/`iv` into `inner`.
    pub fn new(key: &[u8; 32], iv: &[u8; 16], inner: W) -> Self {
        CbcEncryptWriter {
            inner,
            enc: Aes256CbcEnc::new(key.into(), iv.into()),
            pending: Vec::with_capacity(CHUNK),
        }
    }

    /// Encrypts and writes every whole block of `pending` (keeps the incomplete tail).
    fn drain_blocks(&mut self) -> io::Result<()> {
        let whole = self.pending.len() - self.pending.len() % BLOCK;
        if whole == 0 {
            return Ok(());
        }
        encrypt_in_place(&mut self.enc, &mut self.pending[..whole]);
        self.inner.write_all(&self.pending[..whole])?;
        self.pending.drain(..whole);
        Ok(())
    }

    /// Pads (PKCS#7: 1–16 bytes), encrypts the last block, flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.drain_blocks()?;
        let n = self.pending.len();
        let pad = (BLOCK - n) as u8;
        self.pending.resize(BLOCK, pad);
        encrypt_in_place(&mut self.enc, &mut self.pending[..BLOCK]);
        self.inner.write_all(&self.pending[..BLOCK])?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for CbcEncryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.pending.len();
        let take = buf.len().min(room);
        self.pending.extend_from_slice(&buf[..take]);
        if self.pending.len() >= CHUNK {
            self.drain_blocks()?;
        }
        Ok(take)
    }

    /// Flushes the inner writer; an incomplete block stays buffered (CBC cannot emit it).
    fn flush(&mut self) -> io::Result<()> {
        self.drain_blocks()?;
        self.inner.flush()
    }
}

/// AES-256-CBC/PKCS#7 decryption into `W`. The last block is held back until
/// [`finish`](Self::finish), which checks and strips the padding; a wrong key or corrupted data
/// is an [`io::ErrorKind::InvalidData`] error there.
pub struct CbcDecryptWriter<W: Write> {
    inner: W,
    dec: Aes256CbcDec,
    /// Ciphertext not yet decrypted (fewer than `CHUNK + BLOCK` bytes between calls).
    pending: Vec<u8>,
}

impl<W: Write> CbcDecryptWriter<W> {
    /// Decrypts with `key`/`iv` into `inner`.
    pub fn new(key: &[u8; 32], iv: &[u8; 16], inner: W) -> Self {
        CbcDecryptWriter {
            inner,
            dec: Aes256CbcDec::new(key.into(), iv.into()),
            pending: Vec::with_capacity(CHUNK + BLOCK),
        }
    }

    /// Decrypts and writes whole blocks, keeping at least one block back (it may be the last).
    fn drain_blocks(&mut self) -> io::Result<()> {
        let len = self.pending.len();
        if len <= BLOCK {
            return Ok(());
        }
        let mut whole = len - len % BLOCK;
        if whole == len {
            whole -= BLOCK;
        }
        decrypt_in_place(&mut self.dec, &mut self.pending[..whole]);
        self.inner.write_all(&self.pending[..whole])?;
        self.pending.drain(..whole);
        Ok(())
    }

    /// Decrypts the last block, checks and strips the padding, flushes and returns the inner
    /// writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.drain_blocks()?;
        if self.pending.len() != BLOCK {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "AES-256-CBC ciphertext length is not a positive multiple of 16",
            ));
        }
        decrypt_in_place(&mut self.dec, &mut self.pending[..BLOCK]);
        let pad = usize::from(self.pending[BLOCK - 1]);
        let padding_ok = (1..=BLOCK).contains(&pad)
            && self.pending[BLOCK - pad..]
                .iter()
                .all(|&b| usize::from(b) == pad);
        if !padding_ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "AES-256-CBC: bad PKCS#7 padding (wrong key/IV or corrupted data)",
            ));
        }
        self.inner.write_all(&self.pending[..BLOCK - pad])?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for CbcDecryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK + BLOCK - self.pending.len();
        let take = buf.len().min(room);
        self.pending.extend_from_slice(&buf[..take]);
        if self.pending.len() >= CHUNK + BLOCK {
            self.drain_blocks()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain_blocks()?;
        self.inner.flush()
    }
}

/// Size and SHA-256 of a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digested {
    /// Number of bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
}

impl Digested {
    /// The hash as KSeF writes it (Base64, standard alphabet, padded).
    pub fn sha256_base64(&self) -> String {
        BASE64.encode(self.sha256)
    }
}

/// Passes bytes through to `W`, counting them and hashing them with SHA-256.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer and what passed through.
    pub fn finish(self) -> (W, Digested) {
        let digest = Digested {
            size: self.size,
            sha256: self.hasher.finalize().into(),
        };
        (self.inner, digest)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Passes bytes through from `R`, counting them and hashing them with SHA-256.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The inner reader and what passed through.
    pub fn finish(self) -> (R, Digested) {
        let digest = Digested {
            size: self.size,
            sha256: self.hasher.finalize().into(),
        };
        (self.inner, digest)
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Size and SHA-256 of everything `reader` yields (read in 64 KiB chunks).
pub fn digest_reader(mut reader: impl io::Read) -> io::Result<Digested> {
    let mut w = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut w)?;
    Ok(w.finish().1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{aes256_cbc_decrypt, aes256_cbc_encrypt};

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    /// Writes `bytes` in pieces of `step` bytes.
    fn feed(w: &mut impl Write, bytes: &[u8], step: usize) {
        for piece in bytes.chunks(step.max(1)) {
            w.write_all(piece).unwrap();
        }
    }

    #[test]
    fn streaming_matches_whole_buffer_both_ways() {
        let key = [7u8; 32];
        let iv = [9u8; 16];
        for n in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            1000,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 5,
        ] {
            let plain = data(n);
            let expected = aes256_cbc_encrypt(&key, &iv, &plain);
            for step in [1, 7, 16, 4096, 100_000] {
                if n > 5000 && step < 16 {
                    continue;
                }
                let mut w = CbcEncryptWriter::new(&key, &iv, Vec::new());
                feed(&mut w, &plain, step);
                let got = w.finish().unwrap();
                assert_eq!(got, expected, "encrypt n={n} step={step}");

                let mut d = CbcDecryptWriter::new(&key, &iv, Vec::new());
                feed(&mut d, &got, step);
                assert_eq!(d.finish().unwrap(), plain, "decrypt n={n} step={step}");
            }
            assert_eq!(aes256_cbc_decrypt(&key, &iv, &expected).unwrap(), plain);
        }
    }

    #[test]
    fn decryption_rejects_wrong_key_and_bad_length() {
        let key = [1u8; 32];
        let iv = [2u8; 16];
        let ct = aes256_cbc_encrypt(&key, &iv, b"faktura");
        let mut d = CbcDecryptWriter::new(&[3u8; 32], &iv, Vec::new());
        d.write_all(&ct).unwrap();
        // A wrong key almost always gives bad padding.
        assert!(d.finish().is_err());
        let mut d = CbcDecryptWriter::new(&key, &iv, Vec::new());
        d.write_all(&ct[..ct.len() - 1]).unwrap();
        let e = d.finish().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let d = CbcDecryptWriter::new(&key, &iv, Vec::new());
        assert!(d.finish().is_err(), "empty ciphertext");
    }

    #[test]
    fn hashing_writer_counts_and_hashes() {
        let bytes = data(200_000);
        let mut w = HashingWriter::new(Vec::new());
        feed(&mut w, &bytes, 333);
        let (out, d) = w.finish();
        assert_eq!(out, bytes);
        assert_eq!(d.size, 200_000);
        assert_eq!(d.sha256, crate::sha256(&bytes));
        assert_eq!(d.sha256_base64(), crate::envelope::sha256_base64(&bytes));
        assert_eq!(digest_reader(&bytes[..]).unwrap(), d);
        let mut r = HashingReader::new(&bytes[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.finish().1, d);
    }
}
