//! Invoices per second of the PDF rendering (parse + layout + PDF) of the official FA(3)
//! sample, on one thread: `cargo run --release -p ksef-visual --example pdf_throughput`.

use std::path::Path;
use std::time::{Duration, Instant};

use ksef_core::qr::LinkBase;
use ksef_visual::{InvoiceView, RenderOptions, pdf};

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/invoice-template-fa-3.xml",
    );
    let text = std::fs::read_to_string(&path).expect("the FA(3) sample");
    let xml = text
        .replace("#nip#", "5265877635")
        .replace("#invoice_number#", "FV/2026/02/0042")
        .replace("#issue_date#", "2026-02-03")
        .replace("#buyer_nip#", "7010002137")
        .replace("#nip_podmiot2#", "7010002137")
        .into_bytes();
    let render_one = || {
        let view = InvoiceView::parse(&xml).expect("parses");
        let opts = RenderOptions {
            ksef_number: Some("5265877635-20260203-0100A0B1C2D3-4E".into()),
            kod_i_url: Some(view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url()),
            qr_svg: None,
            kod_ii_url: None,
        };
        pdf::render(&view, &opts).expect("renders")
    };
    let size = render_one().len();
    let mut n = 0u32;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        std::hint::black_box(render_one());
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "FA(3) sample: {n} PDFs in {secs:.2} s = {:.0} invoices/s ({:.2} ms each, {:.1} KB), one thread",
        f64::from(n) / secs,
        secs * 1000.0 / f64::from(n),
        size as f64 / 1024.0
    );
}
