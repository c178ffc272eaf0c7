//! The embedded fonts (DejaVu Sans Condensed, regular and bold; see `fonts/SOURCES.md`) and
//! the text measuring the layout needs.
//!
//! Text is set glyph by glyph from the font's `cmap` and horizontal advances (no shaping, no
//! kerning): measuring and drawing use the same numbers, so right-aligned and wrapped text
//! lands exactly where the layout put it. That is enough for Latin-script business documents.

use std::sync::OnceLock;

use read_fonts::types::{GlyphId, NameId};
use read_fonts::{FontRef, ReadError, TableProvider};

pub(crate) static REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed.ttf");
pub(crate) static BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed-Bold.ttf");

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

/// One embedded face: its TrueType data (subset into each PDF) and the metrics the layout
/// and the PDF font dictionaries need, in em units.
pub(crate) struct Face {
    pub(crate) data: &'static [u8],
    font: FontRef<'static>,
    /// Advance of every glyph, in em.
    advances: Vec<f32>,
    /// (glyph id, advance in em) for code points below [`FAST_RANGE`].
    fast: Vec<(u16, f32)>,
    /// The same for [`PUNCT_RANGE`].
    punct: Vec<(u16, f32)>,
    /// Ascender and descender (positive, below the baseline).
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
    pub(crate) cap_height: f32,
    /// The font bounding box: left, bottom, right, top.
    pub(crate) bbox: [f32; 4],
    pub(crate) bold: bool,
    /// The PostScript name (`DejaVuSansCondensed-Bold`).
    pub(crate) postscript_name: String,
}

impl Face {
    fn load(data: &'static [u8]) -> Face {
        // The fonts are part of the crate: a parse failure is a build defect, caught by every test.
        Face::try_load(data).expect("embedded font parses")
    }

    fn try_load(data: &'static [u8]) -> Result<Face, ReadError> {
        let font = FontRef::new(data)?;
        let head = font.head()?;
        let hhea = font.hhea()?;
        let hmtx = font.hmtx()?;
        let os2 = font.os2()?;
        let name = font.name()?;
        let upem = f32::from(head.units_per_em());
        let em = |v: i16| f32::from(v) / upem;
        let glyph_count = font.maxp()?.num_glyphs();
        let advances: Vec<f32> = (0..glyph_count)
            .map(|gid| f32::from(hmtx.advance(GlyphId::new(gid.into())).unwrap_or(0)) / upem)
            .collect();
        let cmap = font.cmap()?;
        let lookup = |cp: u32| -> (u16, f32) {
            let gid = cmap
                .map_codepoint(cp)
                .and_then(|g| u16::try_from(g.to_u32()).ok())
                .unwrap_or(0);
            (gid, advances.get(usize::from(gid)).copied().unwrap_or(0.0))
        };
        let fast = (0..FAST_RANGE).map(lookup).collect();
        let punct = PUNCT_RANGE.map(lookup).collect();
        let postscript_name = name
            .name_record()
            .iter()
            .filter(|r| r.name_id() == NameId::POSTSCRIPT_NAME)
            .find_map(|r| r.string(name.string_data()).ok())
            .map(|s| s.chars().collect::<String>())
            .ok_or(ReadError::MalformedData("no PostScript name"))?;
        let ascender = hhea.ascender().to_i16();
        Ok(Face {
            data,
            font,
            advances,
            fast,
            punct,
            ascent: em(ascender),
            descent: -em(hhea.descender().to_i16()),
            cap_height: em(os2.s_cap_height().unwrap_or(ascender)),
            bbox: [
                em(head.x_min()),
                em(head.y_min()),
                em(head.x_max()),
                em(head.y_max()),
            ],
            bold: os2.us_weight_class() >= 600,
            postscript_name,
        })
    }

    /// The glyph id and advance (in em) of `c`; the `.notdef` glyph (id 0) if the font lacks it.
    pub(crate) fn glyph(&self, c: char) -> (u16, f32) {
        let cp = u32::from(c);
        if cp < FAST_RANGE {
            return self.fast[cp as usize];
        }
        if PUNCT_RANGE.contains(&cp) {
            return self.punct[(cp - PUNCT_RANGE.start) as usize];
        }
        let gid = self
            .font
            .cmap()
            .ok()
            .and_then(|cmap| cmap.map_codepoint(cp))
            .and_then(|g| u16::try_from(g.to_u32()).ok())
            .unwrap_or(0);
        (gid, self.advance(gid))
    }

    /// The advance (in em) of a glyph.
    pub(crate) fn advance(&self, gid: u16) -> f32 {
        self.advances.get(usize::from(gid)).copied().unwrap_or(0.0)
    }

    /// The width of `text` at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
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
