//! `cargo bench -p ksef-invoice`: invoices/s of `verify` on the ~3.3 KB FA(3) template, on one
//! thread and on all cores, plus a breakdown of where the time goes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ksef_invoice::schema::{self, SchemaKind};
use ksef_invoice::{FormCode, bytes, extract_facts, verify};

const NIP: &str = "5265877635";
const RUN: Duration = Duration::from_secs(2);

/// CPU time of the calling thread (Linux `/proc/thread-self/stat`, clock ticks of 10 ms);
/// `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Calls per wall-clock second and per CPU second of this thread (the latter is the fair
/// figure when other processes compete for the cores).
struct Rate {
    wall: f64,
    cpu: Option<f64>,
}

/// Runs `f` repeatedly for [`RUN`].
fn rate(mut f: impl FnMut()) -> Rate {
    for _ in 0..50 {
        f(); // warm-up: compiles the thread's schemas
    }
    let cpu0 = thread_cpu_time();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        for _ in 0..50 {
            f();
        }
        n += 50;
    }
    let wall = n as f64 / start.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_time()) {
        (Some(a), Some(b)) if b > a => Some(n as f64 / (b - a).as_secs_f64()),
        _ => None,
    };
    Rate { wall, cpu }
}

fn show(label: &str, r: &Rate) {
    match r.cpu {
        Some(cpu) => println!(
            "  {label:<24} {:>9.0} /s wall ({:>6.1} µs)   {cpu:>9.0} /s per CPU-second ({:>6.1} µs)",
            r.wall,
            1e6 / r.wall,
            1e6 / cpu
        ),
        None => println!(
            "  {label:<24} {:>9.0} /s wall ({:>6.1} µs)",
            r.wall,
            1e6 / r.wall
        ),
    }
}

fn main() {
    let xml = ksef_testkit::invoices::fa3(NIP, "BENCH-1");
    verify(FormCode::Fa3, &xml).expect("template verifies");
    println!("FA(3) template: {} bytes", xml.len());

    println!("verify (invoices/s):");
    let one = rate(|| {
        black_box(verify(FormCode::Fa3, black_box(&xml)).is_ok());
    });
    show("1 thread", &one);

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rates: Vec<Rate> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    rate(|| {
                        black_box(verify(FormCode::Fa3, black_box(&xml)).is_ok());
                    })
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let total = Rate {
        wall: rates.iter().map(|r| r.wall).sum(),
        cpu: rates.iter().map(|r| r.cpu).sum::<Option<f64>>(),
    };
    show(&format!("{threads} threads, total"), &total);

    println!("breakdown, 1 thread (calls/s):");
    let r = rate(|| {
        black_box(bytes::check(black_box(&xml)).is_ok());
    });
    show("byte rules", &r);
    let text = std::str::from_utf8(&xml).unwrap_or_default();
    let r = rate(|| {
        black_box(schema::parse(black_box(text)).is_ok());
    });
    show("libxml2 parse", &r);
    let doc = schema::parse(text).expect("parses");
    let r = rate(|| {
        black_box(schema::validate_doc(SchemaKind::Form(FormCode::Fa3), black_box(&doc)).is_ok());
    });
    show("XSD validate (parsed)", &r);
    let r = rate(|| {
        black_box(ksef_invoice::facts::extract_libxml(FormCode::Fa3, black_box(&doc)).is_ok());
    });
    show("facts from libxml2 tree", &r);
    let r = rate(|| {
        black_box(extract_facts(FormCode::Fa3, black_box(&xml)).is_ok());
    });
    show("extract_facts (roxmltree)", &r);
}
