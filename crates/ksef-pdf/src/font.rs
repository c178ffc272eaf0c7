//! The embedded fonts (DejaVu Sans Condensed, regular and bold; see `fonts/SOURCES.md`) and
//! the text measuring the layout needs.
//!
//! Text is set glyph by glyph from the font's `cmap` and horizontal advances (no shaping, no
//! kerning): measuring and drawing use the same numbers, so right-aligned and wrapped text
//! lands exactly where the layout put it. That is enough for Latin-script business documents.

use std::sync::OnceLock;

use krilla::text::{Font as KrillaFont, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

static REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed-Bold.ttf");

/// Characters below this code point have their glyph and advance precomputed (Latin, Latin-1,
/// Latin Extended-A/B — Polish letters included — Greek and Cyrillic).
const FAST_RANGE: u32 = 0x0530;
/// General punctuation and currency symbols (dashes, typographic quotes, ellipsis, €).
const PUNCT_RANGE: std::ops::Range<u32> = 0x2000..0x20D0;

/// The weight of a run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weight {
    Regular,
    Bold,
}

/// One embedded face: the krilla font (which subsets and embeds it with a ToUnicode map) and
/// the metrics this crate measures with.
pub(crate) struct Face {
    pub(crate) krilla: KrillaFont,
    data: &'static [u8],
    /// (glyph id, advance in em) for code points below [`FAST_RANGE`].
    fast: Vec<(u32, f32)>,
    /// The same for [`PUNCT_RANGE`].
    punct: Vec<(u32, f32)>,
    /// Ascender and descender (positive, below the baseline) in em.
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Face {
        // The fonts are part of the crate: a parse failure is a build defect, caught by every test.
        let font = FontRef::new(data).expect("embedded font parses");
        let krilla = KrillaFont::new(data.into(), 0).expect("embedded font loads");
        let metrics = font.metrics(Size::unscaled(), LocationRef::default());
        let upem = f32::from(metrics.units_per_em);
        let charmap = font.charmap();
        let advances = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        let lookup = |cp: u32| -> (u32, f32) {
            let gid = charmap.map(cp).unwrap_or_default();
            let advance = advances.advance_width(gid).unwrap_or(0.0) / upem;
            (gid.to_u32(), advance)
        };
        Face {
            krilla,
            data,
            fast: (0..FAST_RANGE).map(lookup).collect(),
            punct: PUNCT_RANGE.map(lookup).collect(),
            ascent: metrics.ascent / upem,
            descent: -metrics.descent / upem,
        }
    }

    /// The glyph id and advance (in em) of `c`; the `.notdef` glyph (id 0) if the font lacks it.
    pub(crate) fn glyph(&self, c: char) -> (u32, f32) {
        let cp = u32::from(c);
        if cp < FAST_RANGE {
            return self.fast[cp as usize];
        }
        if PUNCT_RANGE.contains(&cp) {
            return self.punct[(cp - PUNCT_RANGE.start) as usize];
        }
        let font = FontRef::new(self.data).expect("embedded font parses");
        let upem = f32::from(font.metrics(Size::unscaled(), LocationRef::default()).units_per_em);
        let gid = font.charmap().map(cp).unwrap_or_default();
        let advance = font
            .glyph_metrics(Size::unscaled(), LocationRef::default())
            .advance_width(gid)
            .unwrap_or(0.0);
        (gid.to_u32(), advance / upem)
    }

    /// The width of `text` at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// The glyphs of `text` for krilla, each mapped back to its character (for ToUnicode).
    pub(crate) fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(i, c)| {
                let (gid, advance) = self.glyph(c);
                KrillaGlyph::new(
                    GlyphId::new(gid),
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }
}

/// Both faces, loaded once per process.
pub(crate) struct Fonts {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
}

impl Fonts {
    pub(crate) fn get() -> &'static Fonts {
        static FONTS: OnceLock<Fonts> = OnceLock::new();
        FONTS.get_or_init(|| Fonts {
            regular: Face::load(REGULAR_TTF),
            bold: Face::load(BOLD_TTF),
        })
    }

    pub(crate) fn face(&self, weight: Weight) -> &Face {
        match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }
}
