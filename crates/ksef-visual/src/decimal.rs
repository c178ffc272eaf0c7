//! Exact decimals as written in the document (`xsd:decimal` lexical form) and their Polish
//! display: `1 234,56`.

use std::fmt;

/// Most digits a value may have (the schemas allow 18 for amounts and 22 for prices).
const MAX_DIGITS: usize = 30;

/// An exact decimal number: `mantissa × 10^-scale`. No floating point anywhere, so what the
/// document says is what is shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    /// Parses the `xsd:decimal` lexical form (`-1234.5`, `+0.10`, `.5`, `7.`), surrounding
    /// whitespace allowed. `None` for anything else or more than 30 digits.
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (negative, body) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let int = int.trim_start_matches('0');
        if int.len() + frac.len() > MAX_DIGITS {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(b - b'0'))?;
        }
        let scale = u32::try_from(frac.len()).ok()?;
        Some(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale,
        })
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// `self + other`, exactly; `None` on overflow.
    pub fn checked_add(&self, other: &Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let a = self
            .mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)?;
        let b = other
            .mantissa
            .checked_mul(10i128.checked_pow(scale - other.scale)?)?;
        Some(Decimal {
            mantissa: a.checked_add(b)?,
            scale,
        })
    }

    /// Digits before and after the decimal point, without sign.
    fn parts(&self) -> (String, String) {
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if digits.len() > scale {
            let (i, f) = digits.split_at(digits.len() - scale);
            (i.to_string(), f.to_string())
        } else {
            ("0".to_string(), format!("{digits:0>scale$}"))
        }
    }

    fn render(&self, min_frac: usize, trim: bool) -> String {
        let (int, mut frac) = self.parts();
        if trim {
            while frac.len() > min_frac && frac.ends_with('0') {
                frac.pop();
            }
        }
        while frac.len() < min_frac {
            frac.push('0');
        }
        let mut out = String::new();
        if self.mantissa < 0 {
            out.push('-');
        }
        let len = int.len();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (len - i) % 3 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        if !frac.is_empty() {
            out.push(',');
            out.push_str(&frac);
        }
        out
    }

    /// An amount in the Polish style: thousands separated by a space, decimal comma, at least
    /// two decimals (more when the document has more significant ones): `1 234,56`,
    /// `0,10`, `12,345`.
    pub fn amount(&self) -> String {
        self.render(2, true)
    }

    /// A quantity or rate in the Polish style without trailing zeros: `20`, `1 000,5`.
    pub fn number(&self) -> String {
        self.render(0, true)
    }
}

impl fmt::Display for Decimal {
    /// The canonical `xsd:decimal` form (`-1234.50`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = self.parts();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        if frac.is_empty() {
            write!(f, "{sign}{int}")
        } else {
            write!(f, "{sign}{int}.{frac}")
        }
    }
}

/// The currency as shown after an amount: `zł` for PLN, the ISO code otherwise.
pub fn currency_symbol(code: &str) -> &str {
    if code == "PLN" { "zł" } else { code }
}

/// `1 234,56 zł` / `1 234,56 EUR`.
pub fn money(value: &Decimal, currency: &str) -> String {
    format!("{} {}", value.amount(), currency_symbol(currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).expect("test literal")
    }

    #[test]
    fn parses_xsd_decimals() {
        assert_eq!(d("1234.5").amount(), "1 234,50");
        assert_eq!(d("+0.10").amount(), "0,10");
        assert_eq!(d(".5").amount(), "0,50");
        assert_eq!(d("7.").number(), "7");
        assert_eq!(d("-1234567.891").amount(), "-1 234 567,891");
        assert_eq!(d("0001000").number(), "1 000");
        assert_eq!(d("20.000").number(), "20");
        assert_eq!(d("6.5").number(), "6,5");
        assert_eq!(d("0.005").amount(), "0,005");
        assert_eq!(d("-0.5").to_string(), "-0.5");
        for bad in ["", "-", ".", "1,5", "1e3", "1.2.3", "abc", " - 1", "１"] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Decimal::parse(&"9".repeat(31)), None);
        assert!(Decimal::parse(&"9".repeat(30)).is_some());
    }

    #[test]
    fn adds_exactly() {
        assert_eq!(d("43.60").checked_add(&d("10.03")), Some(d("53.63")));
        assert_eq!(
            d("0.1").checked_add(&d("0.2")).map(|x| x.amount()),
            Some("0,30".into())
        );
        assert_eq!(
            d("-5").checked_add(&d("2.5")).map(|x| x.amount()),
            Some("-2,50".into())
        );
    }

    #[test]
    fn money_uses_zloty_sign() {
        assert_eq!(money(&d("1234.56"), "PLN"), "1 234,56 zł");
        assert_eq!(money(&d("1234.56"), "EUR"), "1 234,56 EUR");
    }
}
