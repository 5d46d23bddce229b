//! Per-disk read/write rates from `/proc/diskstats` (sysinfo reports I/O per mounted
//! filesystem, not per block device). Whole devices only: partitions, loop and ram devices are
//! left out.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use exporter_protocol::system::DiskIo;

/// `/proc/diskstats` counts sectors of 512 bytes, whatever the device's own sector size.
const SECTOR_BYTES: u64 = 512;

/// Counters of one device: (sectors read, sectors written).
type Counters = (u64, u64);

/// Remembers the previous reading to turn counters into rates.
#[derive(Debug, Default)]
pub struct DiskRates {
    previous: Option<(Instant, HashMap<String, Counters>)>,
}

impl DiskRates {
    /// Reads the counters now; rates need a previous reading (the first call gives zeros).
    pub fn sample(&mut self) -> Option<Vec<DiskIo>> {
        let text = std::fs::read_to_string("/proc/diskstats").ok()?;
        let now = Instant::now();
        let current = parse(&text, |name| Path::new("/sys/block").join(name).exists());
        let elapsed = self
            .previous
            .as_ref()
            .map_or(0.0, |(at, _)| now.duration_since(*at).as_secs_f64());
        let mut list: Vec<DiskIo> = current
            .iter()
            .map(|(device, &(read, written))| {
                let (read_rate, write_rate) =
                    match self.previous.as_ref().and_then(|(_, p)| p.get(device)) {
                        Some(&(prev_read, prev_written)) if elapsed > 0.0 => (
                            read.saturating_sub(prev_read) as f64 * SECTOR_BYTES as f64 / elapsed,
                            written.saturating_sub(prev_written) as f64 * SECTOR_BYTES as f64
                                / elapsed,
                        ),
                        _ => (0.0, 0.0),
                    };
                DiskIo {
                    device: device.clone(),
                    read_bytes_per_second: read_rate,
                    write_bytes_per_second: write_rate,
                    read_bytes_total: read * SECTOR_BYTES,
                    written_bytes_total: written * SECTOR_BYTES,
                }
            })
            .collect();
        list.sort_by(|a, b| a.device.cmp(&b.device));
        self.previous = Some((now, current));
        (!list.is_empty()).then_some(list)
    }
}

/// Parses `/proc/diskstats`, keeping the devices `is_whole_disk` accepts.
fn parse(text: &str, is_whole_disk: impl Fn(&str) -> bool) -> HashMap<String, Counters> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = *fields.get(2)?;
            if name.starts_with("loop") || name.starts_with("ram") || !is_whole_disk(name) {
                return None;
            }
            let read = fields.get(5)?.parse().ok()?;
            let written = fields.get(9)?.parse().ok()?;
            Some((name.to_owned(), (read, written)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sectors_of_whole_disks_only() {
        let text = "\
 259       0 nvme0n1 1000 0 2048 10 500 0 4096 20 0 30 30 0 0 0 0
 259       1 nvme0n1p1 900 0 2000 10 400 0 4000 20 0 30 30 0 0 0 0
   7       0 loop0 5 0 10 0 0 0 0 0 0 0 0 0 0 0 0
";
        let parsed = parse(text, |name| !name.contains('p') || name == "loop0");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed["nvme0n1"], (2048, 4096));
    }
}
