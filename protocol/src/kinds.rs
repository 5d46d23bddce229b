//! The two kinds of "kind", as types the compiler knows: what a collector binary can run
//! ([`CollectorKind`], the argument of `exporter-collector <kind>` and the key of its settings),
//! and what a message carries ([`SourceKind`], the `<kind>` token of a sample subject and the
//! envelope's `source`).
//!
//! They differ because one collector publishes several sources (the trades collector publishes
//! fills and open orders; the hardware collector samples, GPU inventories and XID events), and
//! one source, the processes' own self-metrics (`exporter`), comes from every process rather
//! than from a collector.
//! Adding a kind here is a compile error in every `match` that must handle it: the collector
//! binary's dispatch, the aggregator's decoder and the settings' list of enabled collectors.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::series::{HasSeries, SeriesDef, SeriesPoint};

/// Declares a kind enum and its `ALL` (every variant, in declaration order) from one list, so
/// a new variant cannot be left out of `ALL` (which parsing, `exporter up` and the per-source
/// sequence numbers iterate).
macro_rules! kind_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident,)+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];
        }
    };
}

kind_enum! {
    /// A collector process: `exporter-collector <kind>`. Declared in the order `exporter up`
    /// starts them, which is the order of [`CollectorKind::ALL`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CollectorKind {
        /// Host CPU, memory, disks, network, processes (sysinfo, /proc).
        System,
        /// GPUs through NVML, GH200 power rails and temperatures through sysfs.
        Hardware,
        /// Linux pressure stall information (CPU, memory, I/O).
        Pressure,
        /// Log files and journal units.
        Logs,
        /// The trading engine's notifications file.
        Notifications,
        /// Market charts and quotes (Yahoo), on a schedule and on request.
        Market,
        /// The brokerage account and positions, the equity history and the market calendar.
        Portfolio,
        /// The brokerage's fills, open orders and non-trade (cash) activities.
        Trades,
    }
}

impl CollectorKind {
    /// The name on the command line, in settings and in process names (`collector-<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Hardware => "hardware",
            Self::Portfolio => "portfolio",
            Self::Trades => "trades",
            Self::Market => "market",
            Self::Logs => "logs",
            Self::Notifications => "notifications",
            Self::Pressure => "pressure",
        }
    }

    /// The sources this collector publishes.
    pub const fn sources(self) -> &'static [SourceKind] {
        match self {
            Self::System => &[SourceKind::System],
            Self::Hardware => &[
                SourceKind::Hardware,
                SourceKind::GpuInventory,
                SourceKind::GpuEvent,
            ],
            Self::Portfolio => &[
                SourceKind::Portfolio,
                SourceKind::EquityHistory,
                SourceKind::MarketCalendar,
            ],
            Self::Trades => &[
                SourceKind::Fills,
                SourceKind::Orders,
                SourceKind::CashActivities,
            ],
            Self::Market => &[SourceKind::MarketBars, SourceKind::Quote],
            Self::Logs => &[SourceKind::Logs],
            Self::Notifications => &[SourceKind::Notifications],
            Self::Pressure => &[SourceKind::Pressure],
        }
    }

    /// The process name its heartbeats carry.
    pub fn process_name(self) -> String {
        format!("collector-{}", self.name())
    }

    /// Every name, comma-separated (for usage and error messages).
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

kind_enum! {
    /// What one message carries: the `<kind>` token of `exporter.v1.sample.<kind>.<host>`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum SourceKind {
        /// [`crate::system::SystemSample`]
        System,
        /// [`crate::hardware::HardwareSample`]
        Hardware,
        /// [`crate::hardware::GpuInventory`]
        GpuInventory,
        /// [`crate::hardware::XidEvent`]
        GpuEvent,
        /// [`crate::brokerage::PortfolioSnapshot`]
        Portfolio,
        /// [`crate::brokerage::EquityHistory`]
        EquityHistory,
        /// [`crate::brokerage::FillBatch`]
        Fills,
        /// [`crate::brokerage::OpenOrders`]
        Orders,
        /// [`crate::brokerage::CashActivityBatch`]
        CashActivities,
        /// [`crate::calendar::MarketCalendar`]
        MarketCalendar,
        /// [`crate::brokerage::EnginePositions`]: the trading system's own report, not a
        /// collector's (`exporter.v1.ingest.positions`).
        EnginePositions,
        /// [`crate::market::BarBatch`]
        MarketBars,
        /// [`crate::market::Quote`]
        Quote,
        /// [`crate::logs::LogBatch`]
        Logs,
        /// [`crate::alert::NotificationBatch`]
        Notifications,
        /// [`crate::pressure::PressureSample`]
        Pressure,
        /// [`crate::self_metrics::SelfMetrics`]: every process's own metrics, not a collector's.
        Exporter,
    }
}

impl SourceKind {
    /// The subject token and the envelope's `source`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::System => crate::system::KIND,
            Self::Hardware => crate::hardware::KIND,
            Self::GpuInventory => crate::hardware::INVENTORY_KIND,
            Self::GpuEvent => crate::hardware::EVENT_KIND,
            Self::Portfolio => crate::brokerage::PORTFOLIO_KIND,
            Self::EquityHistory => crate::brokerage::EQUITY_KIND,
            Self::Fills => crate::brokerage::FILLS_KIND,
            Self::Orders => crate::brokerage::ORDERS_KIND,
            Self::CashActivities => crate::brokerage::CASH_ACTIVITIES_KIND,
            Self::MarketCalendar => crate::calendar::KIND,
            Self::EnginePositions => crate::brokerage::ENGINE_POSITIONS_KIND,
            Self::MarketBars => crate::market::BARS_KIND,
            Self::Quote => crate::market::QUOTE_KIND,
            Self::Logs => crate::logs::KIND,
            Self::Notifications => crate::alert::NOTIFICATIONS_KIND,
            Self::Pressure => "pressure",
            Self::Exporter => crate::self_metrics::KIND,
        }
    }

    /// True for sources sent on a schedule, whose age says whether their collector is alive.
    /// Events (XIDs), inventories, log lines and notifications arrive only when something
    /// happens.
    pub const fn is_periodic(self) -> bool {
        match self {
            Self::System
            | Self::Hardware
            | Self::Portfolio
            | Self::EquityHistory
            | Self::Fills
            | Self::Orders
            | Self::MarketBars
            | Self::Quote
            | Self::Pressure
            | Self::EnginePositions
            | Self::Exporter => true,
            // Cash activities are published only when one is new or changed, the calendar daily.
            Self::GpuInventory
            | Self::GpuEvent
            | Self::Logs
            | Self::Notifications
            | Self::CashActivities
            | Self::MarketCalendar => false,
        }
    }

    /// The collector that publishes this source; `None` for [`SourceKind::Exporter`], which
    /// every process publishes about itself, and [`SourceKind::EnginePositions`], which the
    /// trading system publishes.
    pub const fn collector(self) -> Option<CollectorKind> {
        Some(match self {
            Self::System => CollectorKind::System,
            Self::Hardware | Self::GpuInventory | Self::GpuEvent => CollectorKind::Hardware,
            Self::Portfolio | Self::EquityHistory | Self::MarketCalendar => {
                CollectorKind::Portfolio
            }
            Self::Fills | Self::Orders | Self::CashActivities => CollectorKind::Trades,
            Self::MarketBars | Self::Quote => CollectorKind::Market,
            Self::Logs => CollectorKind::Logs,
            Self::Notifications => CollectorKind::Notifications,
            Self::Pressure => CollectorKind::Pressure,
            Self::Exporter | Self::EnginePositions => return None,
        })
    }

    /// True when a collector's freshness is told by this source (every source but the
    /// processes' own self-metrics).
    pub fn from_collector(source: &str) -> bool {
        source
            .parse::<SourceKind>()
            .map_or(true, |kind| kind.collector().is_some())
    }
}

impl SourceKind {
    /// The numeric series of a message body of this kind, or why the body does not parse. A
    /// kind whose samples have no table of their own needs nothing else to be stored. `body` is
    /// a parsed tree ([`serde_json::Value`]) or the message's own text
    /// ([`serde_json::value::RawValue`], read straight into the typed payload, no tree built).
    pub fn series_of<B: JsonBody + ?Sized>(self, body: &B) -> Result<Vec<SeriesPoint>, String> {
        fn typed<T: DeserializeOwned + HasSeries, B: JsonBody + ?Sized>(
            kind: SourceKind,
            body: &B,
        ) -> Result<Vec<SeriesPoint>, String> {
            body.parse::<T>()
                .map(|payload| payload.series())
                .map_err(|err| format!("{kind} body does not parse: {err}"))
        }
        use crate::{alert, brokerage, hardware, logs, market, pressure, self_metrics, system};
        match self {
            Self::System => typed::<system::SystemSample, B>(self, body),
            Self::Hardware => typed::<hardware::HardwareSample, B>(self, body),
            Self::GpuInventory => typed::<hardware::GpuInventory, B>(self, body),
            Self::GpuEvent => typed::<hardware::XidEvent, B>(self, body),
            Self::Portfolio => typed::<brokerage::PortfolioSnapshot, B>(self, body),
            Self::EquityHistory => typed::<brokerage::EquityHistory, B>(self, body),
            Self::Fills => typed::<brokerage::FillBatch, B>(self, body),
            Self::Orders => typed::<brokerage::OpenOrders, B>(self, body),
            Self::CashActivities => typed::<brokerage::CashActivityBatch, B>(self, body),
            Self::MarketCalendar => typed::<crate::calendar::MarketCalendar, B>(self, body),
            Self::EnginePositions => typed::<brokerage::EnginePositions, B>(self, body),
            Self::MarketBars => typed::<market::BarBatch, B>(self, body),
            Self::Quote => typed::<market::Quote, B>(self, body),
            Self::Logs => typed::<logs::LogBatch, B>(self, body),
            Self::Notifications => typed::<alert::NotificationBatch, B>(self, body),
            Self::Pressure => typed::<pressure::PressureSample, B>(self, body),
            Self::Exporter => typed::<self_metrics::SelfMetrics, B>(self, body),
        }
    }
}

/// A message body a typed payload can be read from: a parsed tree, or the JSON text itself.
pub trait JsonBody {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error>;
}

impl JsonBody for serde_json::Value {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self)
    }
}

impl JsonBody for serde_json::value::RawValue {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.get())
    }
}

/// Every payload module's series catalogue (see [`crate::series_catalogue!`]); a module with
/// numeric series adds its `SERIES` here.
pub(crate) const CATALOGUES: &[&[SeriesDef]] = &[
    crate::system::SERIES,
    crate::hardware::SERIES,
    crate::brokerage::SERIES,
    crate::market::SERIES,
    crate::pressure::SERIES,
    crate::self_metrics::SERIES,
];

/// A name that is no known kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind `{0}`")]
pub struct UnknownKind(pub String);

macro_rules! name_traits {
    ($kind:ty) => {
        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $kind {
            type Err = UnknownKind;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|kind| kind.name() == name)
                    .ok_or_else(|| UnknownKind(name.to_owned()))
            }
        }
    };
}

name_traits!(CollectorKind);
name_traits!(SourceKind);

/// True for sources sent on a schedule (see [`SourceKind::is_periodic`]); an unknown name (an
/// older or newer collector) counts as periodic, so its staleness is still reported.
pub fn is_periodic(source: &str) -> bool {
    source
        .parse::<SourceKind>()
        .map_or(true, SourceKind::is_periodic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for kind in CollectorKind::ALL {
            assert_eq!(kind.name().parse::<CollectorKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        for kind in SourceKind::ALL {
            assert_eq!(kind.name().parse::<SourceKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        assert!("weird".parse::<SourceKind>().is_err());
    }

    #[test]
    fn all_lists_every_variant_in_declaration_order() {
        for (index, kind) in SourceKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index, "{kind}");
        }
        for (index, kind) in CollectorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index, "{kind}");
        }
    }

    #[test]
    fn every_source_belongs_to_the_collector_that_lists_it() {
        for source in SourceKind::ALL {
            match source.collector() {
                Some(collector) => assert!(collector.sources().contains(&source), "{source}"),
                None => assert!(
                    matches!(source, SourceKind::Exporter | SourceKind::EnginePositions),
                    "{source}"
                ),
            }
        }
        let listed: usize = CollectorKind::ALL.iter().map(|c| c.sources().len()).sum();
        assert_eq!(listed, SourceKind::ALL.len() - 2);
        assert!(!SourceKind::from_collector("exporter"));
        assert!(SourceKind::from_collector("system"));
    }

    #[test]
    fn events_are_not_periodic_and_unknown_sources_are() {
        assert!(is_periodic("system"));
        assert!(!is_periodic("gpu_event"));
        assert!(!is_periodic("logs"));
        assert!(is_periodic("from_a_newer_collector"));
    }
}
