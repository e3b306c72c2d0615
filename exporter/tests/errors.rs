//! Bad input to the exporter.
