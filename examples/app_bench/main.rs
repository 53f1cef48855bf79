//! Benchmark (a program, not a test): the app as a person meets it, in headless
//! Chromium against a real sync server, each figure beside plain JavaScript doing the
//! same work in the same page and run where there is such a thing to compare with.
//!
//! - P7 download: the gzipped size of the app's and the worker's wasm and JavaScript,
//!   and cold load (navigation start to the sign-in form in the DOM) over fresh profiles.
//! - P1 click → rendered: creating 200 boards through the form, from the click to the
//!   board in the DOM.
//! - P2 initial sync of 10 boards with 10,000 and with 50,000 todos, seeded through the
//!   API, beside plain JavaScript writing as many records 100 per transaction, and when
//!   the page shows every todo; and P6, the main thread's long tasks and longest frame
//!   gap from signing in until the page shows every todo, and its long tasks when the
//!   app is opened again with all of them in the database.
//!
//! Every figure is printed with the machine's load average, which moves them.
//!
//! Run with `cargo xtask bench` (which builds the app first), or
//! `cargo run --profile bench --example app_bench -- <dist dir> [todos,todos,...]`;
//! `-- <dist dir> --download-only` runs P7 alone.

#[cfg(not(target_arch = "wasm32"))]
mod clicks;
#[cfg(not(target_arch = "wasm32"))]
mod cold_load;
#[cfg(not(target_arch = "wasm32"))]
mod initial_sync;
#[cfg(not(target_arch = "wasm32"))]
mod report;
#[cfg(not(target_arch = "wasm32"))]
mod sizes;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main]
async fn main() {
    use report::{figure, load_average};
    use std::path::PathBuf;
    use sync_test_support::Stack;

    let mut args = std::env::args().skip(1);
    let dist = PathBuf::from(args.next().unwrap_or_else(|| "dist".into()));
    let list = args.next();
    let download_only = list.as_deref() == Some("--download-only");
    let sizes: Vec<usize> = list
        .filter(|_| !download_only)
        .map(|list| {
            list.split(',')
                .map(|n| n.parse().expect("todo counts are numbers"))
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 50_000]);
    assert!(
        dist.join("index.html").is_file(),
        "{} has no built app: run `cargo xtask build`",
        dist.display()
    );
    println!(
        "app benchmark: {} (load average {})",
        dist.display(),
        load_average()
    );

    println!("\nP7 download (as the server sends it: the build's precompressed copies, else gzip at the default level)");
    sizes::report(&dist);
    let stack = Stack::start_with_app(&dist).await;
    let loads = cold_load::measure(&stack.url, 5).await;
    figure(
        "P7 cold load to the sign-in form, median of 5 fresh profiles",
        format!(
            "{:.0} ms (each: {}; aim < 500 ms)",
            report::median(&loads),
            report::list(&loads)
        ),
    );
    figure(
        "P7 first visit on the wire, service worker install included",
        format!(
            "{:.1} KB",
            cold_load::first_visit_bytes(&stack.url).await as f64 / 1024.0
        ),
    );
    if download_only {
        return;
    }

    println!("\nP1 click → board in the DOM, 200 boards");
    clicks::report(&clicks::measure(&stack.url, 200).await);
    drop(stack);

    println!(
        "\nP2 initial sync (10 boards + N todos) beside plain JS, 100 records per transaction"
    );
    let mut rates = Vec::new();
    for &todos in &sizes {
        let run = initial_sync::measure(&dist, 10, todos).await;
        rates.push((todos, run.app_rate()));
        run.report();
    }
    if let [(first, first_rate), .., (last, last_rate)] = rates[..] {
        figure(
            &format!("P2 records/s at {last} todos ÷ at {first} todos"),
            format!("{:.2} (1.00 is flat)", last_rate / first_rate),
        );
    }
}
