//! `exporter-collector pressure`: Linux pressure stall information from
//! `<proc_root>/pressure/{cpu,memory,io}`, one sample per interval.
//!
//! A resource whose file is missing (PSI off: `psi=0` on the kernel command line, or a kernel
//! before 4.20) or unreadable is left out of the sample; the reason is logged once.

use std::collections::HashSet;
use std::path::Path;

use exporter_protocol::SourceKind;
use exporter_protocol::pressure::{PressureSample, ResourcePressure, StallShare};

use crate::{CollectorContext, CollectorError};

/// Runs the sampling loop until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let config = &ctx.settings.collectors.pressure;
    let mut warned = HashSet::new();
    let mut ticks = ctx.every(config.interval_seconds);
    tracing::info!(subject = %ctx.subject(SourceKind::Pressure), interval_seconds = config.interval_seconds, "pressure collector started");
    while ticks.next().await {
        ctx.publish(SourceKind::Pressure, sample(&config.proc_root, &mut warned));
    }
    Ok(())
}

/// Reads the three files under `proc_root`; `warned` remembers which failures were logged.
pub fn sample(proc_root: &Path, warned: &mut HashSet<&'static str>) -> PressureSample {
    let mut read = |resource: &'static str| {
        let path = proc_root.join("pressure").join(resource);
        let parsed = std::fs::read_to_string(&path)
            .map_err(|err| err.to_string())
            .and_then(|text| parse(&text));
        match parsed {
            Ok(pressure) => Some(pressure),
            Err(reason) => {
                if warned.insert(resource) {
                    tracing::warn!(path = %path.display(), %reason, "pressure of this resource is left out (is PSI enabled in the kernel?)");
                }
                None
            }
        }
    };
    PressureSample {
        cpu: read("cpu"),
        memory: read("memory"),
        io: read("io"),
    }
}

/// Parses `some avg10=0.00 avg60=0.00 avg300=0.00 total=0` and the optional `full` line
/// (`total` is in microseconds).
pub fn parse(text: &str) -> Result<ResourcePressure, String> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        let mut share = StallShare::default();
        for field in fields {
            let (name, value) = field
                .split_once('=')
                .ok_or_else(|| format!("`{field}` is not name=value"))?;
            let value: f64 = value
                .parse()
                .map_err(|_| format!("`{field}` is not a number"))?;
            match name {
                "avg10" => share.avg10_percent = value,
                "avg60" => share.avg60_percent = value,
                "avg300" => share.avg300_percent = value,
                "total" => share.stalled_seconds_total = value / 1e6,
                _ => {}
            }
        }
        *slot = Some(share);
    }
    let some = some.ok_or("no `some` line")?;
    Ok(ResourcePressure { some, full })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_lines_and_converts_the_total_to_seconds() {
        let text = "some avg10=1.47 avg60=26.33 avg300=49.19 total=977639939\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        let pressure = parse(text).unwrap();
        assert_eq!(pressure.some.avg10_percent, 1.47);
        assert_eq!(pressure.some.avg300_percent, 49.19);
        assert!((pressure.some.stalled_seconds_total - 977.639939).abs() < 1e-9);
        assert_eq!(pressure.full.unwrap().avg60_percent, 0.0);
        assert!(parse("some avg10=x").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn a_missing_resource_is_left_out() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("pressure")).unwrap();
        std::fs::write(
            root.path().join("pressure/cpu"),
            "some avg10=2.00 avg60=1.00 avg300=0.50 total=1000000\n",
        )
        .unwrap();
        let mut warned = HashSet::new();
        let sample = sample(root.path(), &mut warned);
        assert_eq!(sample.cpu.unwrap().some.stalled_seconds_total, 1.0);
        assert!(sample.memory.is_none() && sample.io.is_none());
        assert_eq!(warned.len(), 2);
    }
}
