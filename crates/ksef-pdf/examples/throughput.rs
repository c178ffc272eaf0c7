//! Throughput of a one-page invoice-like document (10 lines, a QR code) on one core.
//!
//! ```text
//! cargo run --release -p ksef-pdf --example throughput [-- SECONDS [OUT.pdf]]
//! ```
//!
//! Renders the same document for SECONDS (default 3) on the calling thread and prints
//! documents per second; OUT.pdf, if given, receives one copy to look at.

use std::time::{Duration, Instant};

use ksef_pdf::{Align, Block, Document, PdfError, Table};

fn invoice() -> Result<Document, PdfError> {
    let mut doc = Document::new("Faktura VAT FV/2026/04/0123");
    doc.footer(
        "Wygenerowano w programie ksef — faktura w KSeF: 5260001246-20260415-0A1B2C3D4E5F-7A",
    );
    doc.heading("Faktura VAT nr FV/2026/04/0123", 1)
        .key_values(&[
            ("Data wystawienia:", "2026-04-15, Warszawa"),
            ("Data sprzedaży:", "2026-04-15"),
            ("Numer KSeF:", "5260001246-20260415-0A1B2C3D4E5F-7A"),
        ])
        .columns(
            vec![
                Block::heading("Sprzedawca", 3),
                Block::paragraph(
                    "Przedsiębiorstwo Handlowe „Żuraw” Sp. z o.o.\nul. Źródlana 12/4\n00-950 Łódź",
                ),
                Block::key_values(&[
                    ("NIP:", "5260001246"),
                    ("Rachunek:", "PL61 1090 1014 0000 0712 1981 2874"),
                ]),
            ],
            vec![
                Block::heading("Nabywca", 3),
                Block::paragraph(
                    "Gęślarnia Świętokrzyska S.A.\nal. Jerozolimskie 135\n02-304 Warszawa",
                ),
                Block::key_values(&[("NIP:", "7010002137")]),
            ],
        );
    let mut table = Table::new(
        &[
            "Lp.",
            "Nazwa towaru lub usługi",
            "J.m.",
            "Ilość",
            "Cena netto",
            "Stawka",
            "Wartość netto",
        ],
        &[0.05, 0.39, 0.07, 0.09, 0.14, 0.08, 0.18],
        &[
            Align::Right,
            Align::Left,
            Align::Center,
            Align::Right,
            Align::Right,
            Align::Center,
            Align::Right,
        ],
    )?;
    for i in 1..=10 {
        table.push_row([
            format!("{i}"),
            format!("Usługa doradcza nr {i} — analiza zgodności z KSeF 2.0"),
            "godz.".to_owned(),
            format!("{}", i * 2),
            "250,00".to_owned(),
            "23%".to_owned(),
            format!("{},00", i * 500),
        ])?;
    }
    doc.table(table)
        .totals(&[
            ("Razem netto:", "27 500,00 PLN"),
            ("VAT 23%:", "6 325,00 PLN"),
            ("Do zapłaty:", "33 825,00 PLN"),
        ])
        .small("Słownie: trzydzieści trzy tysiące osiemset dwadzieścia pięć złotych 00/100. Termin płatności: 14 dni, przelew.")
        .spacer(6.0);
    doc.qr(
        "https://qr.ksef.mf.gov.pl/invoice/5260001246/15-04-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE",
        "5260001246-20260415-0A1B2C3D4E5F-7A",
    )?;
    Ok(doc)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let out = args.next();

    // Fonts load once per process: not part of the per-document figure.
    let first = invoice()?.render()?;
    if let Some(out) = out {
        std::fs::write(&out, &first)?;
        eprintln!("wrote {out} ({} bytes)", first.len());
    }

    let deadline = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    while start.elapsed() < deadline {
        bytes += invoice()?.render()?.len();
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} documents in {secs:.2} s: {:.0} documents/s, {:.2} ms each, {} bytes each",
        n as f64 / secs,
        1000.0 * secs / n as f64,
        bytes / n as usize
    );
    Ok(())
}
