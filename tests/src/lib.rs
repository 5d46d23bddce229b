//! exporter-tests
