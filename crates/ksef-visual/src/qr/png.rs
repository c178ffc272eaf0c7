//! The PNG container for one 8-bit greyscale image (PNG 1.2 / ISO/IEC 15948): signature,
//! `IHDR`, one `IDAT` (zlib, every scanline with filter type 0), `IEND`.
//!
//! Written here on the workspace's `flate2` (zlib and CRC-32) instead of with the `png` crate:
//! `png` 0.18 would bring a second `miniz_oxide` (0.8, next to the 0.9 of `flate2`, refused by
//! the duplicate-version rule of `deny.toml`), `fdeflate` and `bitflags` for four chunks of a
//! fixed layout. The images are read back by `zbarimg` in the tests (an independent decoder).

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use super::QrError;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// `pixels` (row-major, `width × height`, 0 = black, 255 = white) as a PNG file.
pub(super) fn grey8(width: u32, height: u32, pixels: &[u8]) -> Result<Vec<u8>, QrError> {
    let (w, h) = (width as usize, height as usize);
    if width == 0 || height == 0 || pixels.len() != w * h {
        return Err(QrError::Png(format!(
            "{} pixels for a {width} × {height} image",
            pixels.len()
        )));
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 0 (greyscale), compression 0, filter method 0, no interlace.
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);

    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    for row in pixels.chunks_exact(w) {
        // Filter type 0 (None): the modules are flat runs that deflate well as they are.
        z.write_all(&[0])
            .and_then(|()| z.write_all(row))
            .map_err(|e| QrError::Png(e.to_string()))?;
    }
    let idat = z.finish().map_err(|e| QrError::Png(e.to_string()))?;

    let mut out = Vec::with_capacity(SIGNATURE.len() + 3 * 12 + ihdr.len() + idat.len());
    out.extend_from_slice(SIGNATURE);
    chunk(&mut out, b"IHDR", &ihdr)?;
    chunk(&mut out, b"IDAT", &idat)?;
    chunk(&mut out, b"IEND", &[])?;
    Ok(out)
}

/// Length, type, data, CRC-32 of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<(), QrError> {
    let len = u32::try_from(data.len()).map_err(|_| QrError::Png("a chunk over 4 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_pixel_image_has_the_known_crcs() {
        let png = grey8(1, 1, &[255]).unwrap();
        assert!(png.starts_with(SIGNATURE));
        // IHDR of a 1×1 8-bit greyscale image and IEND, CRCs as every PNG writer computes them.
        assert_eq!(
            &png[8..33],
            b"\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55"
        );
        assert!(png.ends_with(b"\x00\x00\x00\x00IEND\xae\x42\x60\x82"));
        assert!(grey8(2, 2, &[0; 3]).is_err());
    }
}
