//! The topologies a history runs on: buckets, and the functions that replicate between them,
//! each with its configuration and the source buckets whose events it receives.

use crate::config::Config;

use super::Rng;

/// A function: its configuration and the buckets whose events reach it.
pub struct Function {
    /// The validated configuration.
    pub config: Config,
    /// Buckets whose events this function receives.
    pub sources: Vec<String>,
}

/// The kinds of topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A→B, one catch-all rule.
    OneWay,
    /// A→B with a source that starts unversioned and enables versioning later.
    LateVersioning,
    /// A→B and A→C.
    Several,
    /// A→B through a mix of rules: prefix and tag filters, a catch-all, priorities, a disabled
    /// rule, a storage class change.
    RuleMix,
    /// A↔B.
    TwoWay,
    /// A→C and B→C, one function.
    FanIn,
    /// A→B, B→C: two functions.
    Chain,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::OneWay,
        Kind::LateVersioning,
        Kind::Several,
        Kind::RuleMix,
        Kind::TwoWay,
        Kind::FanIn,
        Kind::Chain,
    ];

    /// The kind's name, as histories print it and `SIM_TOPOLOGIES` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::OneWay => "one-way",
            Kind::LateVersioning => "late-versioning",
            Kind::Several => "several",
            Kind::RuleMix => "rule-mix",
            Kind::TwoWay => "two-way",
            Kind::FanIn => "fan-in",
            Kind::Chain => "chain",
        }
    }
}

/// A topology drawn for one history.
pub struct Topology {
    /// Its kind.
    pub kind: Kind,
    /// Every bucket (`bucket-a`, `bucket-b`, ...).
    pub buckets: Vec<String>,
    /// Buckets created unversioned (versioning enabled later in the history).
    pub unversioned: Vec<String>,
    /// The functions.
    pub functions: Vec<Function>,
    /// Delete-marker replication (every rule), and version-delete replication.
    pub delete_markers: bool,
    /// `REPLICATE_VERSION_DELETES`.
    pub version_deletes: bool,
    /// One line that describes it.
    pub summary: String,
}

fn rule(id: &str, priority: u32, to: &str, filter: &str, dm: bool, extra: &str) -> String {
    let to = format!("bucket-{to}");
    let status = if dm { "Enabled" } else { "Disabled" };
    format!(
        r#"{{"ID":"{id}","Priority":{priority},"Status":"Enabled","Filter":{filter},
        "DeleteMarkerReplication":{{"Status":"{status}"}},
        "Destination":{{"Bucket":"{to}","Region":"us-east-1"{extra}}}}}"#
    )
}

fn function(rules: &[String], sources: &[&str], version_deletes: bool) -> Function {
    let json = format!(r#"{{"Rules":[{}]}}"#, rules.join(","));
    let mut config = Config::from_json(&json).expect("the simulation's configurations are valid");
    config.replicate_version_deletes = version_deletes;
    let sources: Vec<String> = sources.iter().map(|s| format!("bucket-{s}")).collect();
    // As `template.yaml` deploys it: the function acts on its own sources only.
    config.source_buckets = sources.clone();
    Function { config, sources }
}

/// Draws a topology of `kind`.
pub fn draw(kind: Kind, rng: &mut Rng) -> Topology {
    let dm = rng.chance(2);
    let vd = rng.chance(3);
    let all = "{}";
    let (buckets, unversioned, functions, shape): (Vec<&str>, Vec<&str>, Vec<Function>, String) =
        match kind {
            Kind::OneWay => (
                vec!["a", "b"],
                vec![],
                vec![function(&[rule("all", 1, "b", all, dm, "")], &["a"], vd)],
                "a -> b".into(),
            ),
            Kind::LateVersioning => (
                vec!["a", "b"],
                vec!["a"],
                vec![function(&[rule("all", 1, "b", all, dm, "")], &["a"], vd)],
                "a (unversioned at first) -> b".into(),
            ),
            Kind::Several => (
                vec!["a", "b", "c"],
                vec![],
                vec![function(
                    &[
                        rule("to-b", 1, "b", all, dm, ""),
                        rule("to-c", 2, "c", all, !dm, ""),
                    ],
                    &["a"],
                    vd,
                )],
                format!(
                    "a -> b (delete markers {dm}), a -> c (delete markers {})",
                    !dm
                ),
            ),
            Kind::RuleMix => {
                let disabled = rule("off", 9, "b", r#"{"Prefix":"q"}"#, dm, "").replace(
                    r#""Status":"Enabled","Filter""#,
                    r#""Status":"Disabled","Filter""#,
                );
                let rules = [
                    rule(
                        "p-tagged",
                        5,
                        "b",
                        r#"{"And":{"Prefix":"p/","Tags":[{"Key":"class","Value":"a"}]}}"#,
                        false,
                        r#","StorageClass":"STANDARD_IA""#,
                    ),
                    rule("p", 3, "b", r#"{"Prefix":"p/"}"#, dm, ""),
                    rule(
                        "catch-all",
                        1,
                        "b",
                        all,
                        !dm,
                        r#","StorageClass":"GLACIER_IR""#,
                    ),
                    disabled,
                ];
                (
                    vec!["a", "b"],
                    vec![],
                    vec![function(&rules, &["a"], vd)],
                    "a -> b: p/ tagged class=a (STANDARD_IA, 5), p/ (3), catch-all (GLACIER_IR, 1), q disabled".into(),
                )
            }
            Kind::TwoWay => (
                vec!["a", "b"],
                vec![],
                vec![function(
                    &[
                        rule("to-b", 1, "b", all, dm, ""),
                        rule("to-a", 2, "a", all, dm, ""),
                    ],
                    &["a", "b"],
                    vd,
                )],
                "a <-> b, one function".into(),
            ),
            Kind::FanIn => (
                vec!["a", "b", "c"],
                vec![],
                vec![function(
                    &[rule("to-c", 1, "c", all, dm, "")],
                    &["a", "b"],
                    vd,
                )],
                "a -> c <- b, one function".into(),
            ),
            Kind::Chain => (
                vec!["a", "b", "c"],
                vec![],
                vec![
                    function(&[rule("to-b", 1, "b", all, dm, "")], &["a"], vd),
                    function(&[rule("to-c", 1, "c", all, dm, "")], &["b"], vd),
                ],
                "a -> b -> c, two functions".into(),
            ),
        };
    Topology {
        kind,
        buckets: buckets.iter().map(|s| format!("bucket-{s}")).collect(),
        unversioned: unversioned.iter().map(|s| format!("bucket-{s}")).collect(),
        functions,
        delete_markers: dm,
        version_deletes: vd,
        summary: format!(
            "{}: {shape}; delete markers {dm}; version deletes {vd}",
            kind.name()
        ),
    }
}
