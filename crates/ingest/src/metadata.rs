/// Metric family metadata, from remote_write `metadata` or `# HELP` / `# TYPE` / `# UNIT`
/// lines. Empty strings mean "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub metric_family_name: String,
    /// Lower-case type name: "counter", "gauge", "histogram", "gaugehistogram", "summary",
    /// "info", "stateset", "untyped" or "unknown"; empty when no type was given.
    pub r#type: String,
    pub help: String,
    pub unit: String,
}
