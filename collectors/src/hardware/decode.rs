//! Names for NVML's numbers: clock-event (throttle) reason bits and critical XID codes, so the
//! owner reads `sw_thermal_slowdown` and "GPU has fallen off the bus", not `0x20` and `79`.

/// NVML's `nvmlClocksEventReason*` / `nvmlClocksThrottleReason*` bits and their names.
const THROTTLE_REASONS: &[(u64, &str)] = &[
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// Decodes a reason bitmask; unknown bits appear as `unknown_0x...` rather than vanishing.
pub fn throttle_reasons(mask: u64) -> Vec<String> {
    let mut names: Vec<String> = THROTTLE_REASONS
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let known: u64 = THROTTLE_REASONS.iter().map(|(bit, _)| bit).sum();
    let unknown = mask & !known;
    if unknown != 0 {
        names.push(format!("unknown_{unknown:#x}"));
    }
    names
}

/// What NVIDIA's XID documentation says a code means, for the codes operators meet most.
pub fn xid_meaning(xid: u64) -> &'static str {
    match xid {
        13 => "Graphics engine exception (application or driver fault)",
        31 => "GPU memory page fault (illegal address access by an application)",
        32 => "Invalid or corrupted push buffer stream",
        38 => "Driver firmware error",
        43 => "GPU stopped processing (the channel was reset)",
        45 => "Preemptive cleanup after previous errors (process killed)",
        48 => "Double-bit ECC error (uncorrectable memory error)",
        61 => "Internal micro-controller breakpoint/warning",
        62 => "Internal micro-controller halt",
        63 => "ECC page retirement or row remapping recorded",
        64 => "ECC page retirement or row remapping failed to record",
        68 => "Video decoder (NVDEC) exception",
        69 => "Graphics engine class error",
        74 => "NVLink error",
        79 => "GPU has fallen off the bus",
        92 => "High single-bit ECC error rate",
        94 => "Contained ECC error (the affected application must restart)",
        95 => "Uncontained ECC error (the GPU must be reset)",
        109 => "Context switch timeout",
        119 => "GSP RPC timeout",
        120 => "GSP error",
        121 => "NVLink-C2C link corrected error",
        123 => "SPI PMU RPC write failure",
        140 => "Unrecovered ECC error",
        143 => "GPU initialization failure",
        154 => "GPU recovery action changed",
        _ => "see NVIDIA's XID error documentation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_known_bit_and_keeps_unknown_ones() {
        assert!(throttle_reasons(0).is_empty());
        assert_eq!(throttle_reasons(0x1), ["gpu_idle"]);
        assert_eq!(
            throttle_reasons(0x4 | 0x40),
            ["sw_power_cap", "hw_thermal_slowdown"]
        );
        assert_eq!(
            throttle_reasons(0x20 | 0x1000),
            ["sw_thermal_slowdown", "unknown_0x1000"]
        );
        assert_eq!(throttle_reasons(0x1ff).len(), 9);
    }

    #[test]
    fn names_the_common_xid_codes() {
        assert_eq!(xid_meaning(79), "GPU has fallen off the bus");
        assert!(xid_meaning(48).contains("Double-bit ECC"));
        assert!(xid_meaning(95).contains("reset"));
        assert!(xid_meaning(4242).contains("documentation"));
    }
}
