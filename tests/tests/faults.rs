//! The fault suite: each scenario injects one fault found by the fault-injection campaign of
//! issue 13 into the real binaries, real NATS and real PostgreSQL, then counts what some part of
//! the system acknowledged against what is stored. At the end the suite prints one table of
//! every scenario (published / stored / lost / duplicated / recovered alone / what else it
//! measured) and fails unless every row shows 0 lost, 0 duplicated and a recovery alone.
//!
//! A test target without libtest's harness (`harness = false`), so the table comes out whole,
//! after every scenario, failed ones included. Scenarios run two at a time (the long profile: one
//! at a time), each in a thread and runtime of its own, as libtest would run them. Arguments:
//! names (or parts of names) pick scenarios, `--test-threads N` sets how many run at once; other
//! flags are ignored.
//!
//! The test command runs the short profile (`./deploy/test.sh`, under 3 minutes);
//! `EXPORTER_FAULTS_PROFILE=long cargo test -p exporter-tests --test faults` runs the long one
//! by hand: more load, more kills, a longer hang, a bigger flood, and the disk-full case, which
//! mounts a small tmpfs for a tablespace and so needs root.

#![allow(clippy::unwrap_used)]

#[path = "faults/common.rs"]
mod common;
#[path = "faults/flood.rs"]
mod flood;
#[path = "faults/ingest.rs"]
mod ingest;
#[path = "faults/outages.rs"]
mod outages;
#[path = "faults/stream.rs"]
mod stream;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use exporter_tests::faults::{self, Counts, Profile, Row};

type Run = fn(Profile) -> Pin<Box<dyn Future<Output = Vec<Counts>> + Send>>;

/// One scenario of the suite.
struct Scenario {
    name: &'static str,
    /// Only in the long profile (it needs root or runs for minutes).
    long_only: bool,
    run: Run,
}

macro_rules! scenario {
    ($path:path, $long_only:expr) => {
        Scenario {
            name: stringify!($path),
            long_only: $long_only,
            run: |profile| Box::pin($path(profile)),
        }
    };
}

fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!(
            ingest::quick_kills_of_the_aggregator_under_load_never_stall_ingest,
            false
        ),
        scenario!(
            ingest::a_long_write_is_kept_in_progress_and_never_redelivered,
            false
        ),
        scenario!(outages::a_hung_aggregator_holds_nothing_back, false),
        scenario!(
            stream::a_full_stream_refuses_publishes_and_never_evicts_an_acknowledged_one,
            false
        ),
        scenario!(
            stream::a_collector_counts_every_sample_a_full_stream_refused,
            false
        ),
        scenario!(
            stream::an_old_byte_limited_stream_is_updated_in_place_and_keeps_its_messages,
            false
        ),
        scenario!(stream::leftovers_after_a_nats_crash_are_removed, false),
        scenario!(
            flood::a_flood_of_huge_malformed_messages_leaves_memory_at_its_working_size,
            false
        ),
        scenario!(outages::a_full_database_disk_loses_nothing, true),
        scenario!(
            outages::the_shipped_lag_rule_fires_and_resolves_across_a_database_outage,
            true
        ),
    ]
}

/// What the command line asks for: name filters and how many at once.
struct Arguments {
    filters: Vec<String>,
    threads: usize,
    list: bool,
}

fn arguments() -> Arguments {
    let mut args = std::env::args().skip(1);
    // The long profile's scenarios are heavy enough to slow each other down: one at a time.
    let long = Profile::from_env().name == "long";
    let mut parsed = Arguments {
        filters: Vec::new(),
        threads: if long { 1 } else { 2 },
        list: false,
    };
    while let Some(arg) = args.next() {
        if let Some(n) = arg.strip_prefix("--test-threads=") {
            parsed.threads = n.parse().unwrap_or(parsed.threads);
        } else if arg == "--test-threads" {
            parsed.threads = args
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(parsed.threads);
        } else if arg == "--list" {
            parsed.list = true;
        } else if matches!(arg.as_str(), "--skip" | "--format" | "--color" | "-Z") {
            args.next();
        } else if !arg.starts_with('-') {
            parsed.filters.push(arg);
        }
    }
    parsed.threads = parsed.threads.max(1);
    parsed
}

/// Runs `scenario` in a thread and runtime of its own; a panic becomes a failed row.
fn run_one(scenario: &Scenario, profile: Profile) -> Vec<Row> {
    let run = scenario.run;
    let name = scenario.name.rsplit("::").next().unwrap_or(scenario.name);
    let started = Instant::now();
    let outcome = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(profile))
        })
        .unwrap()
        .join();
    let seconds = started.elapsed().as_secs();
    match outcome {
        Ok(counts) => {
            println!("scenario {name} ... done in {seconds} s");
            counts.into_iter().map(Row::Counted).collect()
        }
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned());
            println!("scenario {name} ... FAILED in {seconds} s");
            vec![Row::Failed {
                scenario: name.to_owned(),
                why,
            }]
        }
    }
}

fn main() {
    let arguments = arguments();
    let profile = Profile::from_env();
    let all = scenarios();
    let total = all.len();
    let chosen: Vec<(usize, Scenario)> = all
        .into_iter()
        .filter(|s| profile.name == "long" || !s.long_only)
        .filter(|s| {
            arguments.filters.is_empty()
                || arguments
                    .filters
                    .iter()
                    .any(|f| s.name.contains(f.as_str()))
        })
        .enumerate()
        .collect();
    if arguments.list {
        for (_, scenario) in &chosen {
            println!("{}: test", scenario.name);
        }
        return;
    }
    let started = Instant::now();
    let count = chosen.len();
    println!(
        "\nrunning {count} fault scenarios ({} profile)",
        profile.name
    );
    let queue = Arc::new(Mutex::new(chosen.into_iter().collect::<VecDeque<_>>()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..arguments.threads.min(count.max(1)))
        .map(|_| {
            let queue = queue.clone();
            let results = results.clone();
            std::thread::spawn(move || {
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some((index, scenario)) = next else {
                        return;
                    };
                    let rows = run_one(&scenario, profile);
                    results.lock().unwrap().push((index, rows));
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|(index, _)| *index);
    let mut failed = 0;
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for (_, scenario_rows) in results {
        let bad = scenario_rows.iter().any(|row| match row {
            Row::Failed { scenario, why } => {
                problems.push(format!("{scenario}: {why}"));
                true
            }
            Row::Counted(counts) => counts
                .problem()
                .inspect(|p| problems.push(p.clone()))
                .is_some(),
        });
        failed += usize::from(bad);
        rows.extend(scenario_rows);
    }
    println!("\n{}", faults::table(&profile, &rows));
    for problem in &problems {
        println!("FAILED: {problem}");
    }
    let filtered = total - count;
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {:.2}s\n",
        if failed == 0 { "ok" } else { "FAILED" },
        count - failed,
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        std::process::exit(101);
    }
}
