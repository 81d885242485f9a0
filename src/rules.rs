//! Which rules, and so which destinations, apply to an object version (AWS semantics: only enabled
//! rules; per destination bucket the matching rule with the highest priority wins).
//!
//! One function may serve several source buckets (two-way setups share one configuration), so a
//! rule whose destination is the object's own bucket is left out: S3 forbids replicating a bucket
//! into itself, and copying an object onto itself would only add a version.

use crate::config::{Config, DestinationId, Rule};

/// The rules that replicate an object of `source_bucket` with this key and these tags: at most one
/// per destination bucket, in configuration order.
pub fn select<'c>(
    config: &'c Config,
    source_bucket: &str,
    key: &str,
    tags: &[(String, String)],
) -> Vec<&'c Rule> {
    best_per_destination(config, source_bucket, |r| r.filter.matches(key, tags))
}

/// The rules for a key whose version's tags cannot be read any more (a deleted version) or do not
/// decide (syncing a replica that exists): tag filters are not evaluated.
pub fn select_for_key<'c>(config: &'c Config, source_bucket: &str, key: &str) -> Vec<&'c Rule> {
    best_per_destination(config, source_bucket, |r| key.starts_with(&r.filter.prefix))
}

/// The rules that replicate a delete marker of this key: a marker carries no tags, so rules with
/// tag filters never select it (as in S3), and only those replicating delete markers.
pub fn select_for_marker<'c>(config: &'c Config, source_bucket: &str, key: &str) -> Vec<&'c Rule> {
    select(config, source_bucket, key, &[])
        .into_iter()
        .filter(|r| r.delete_marker_replication)
        .collect()
}

/// Whether the rule that governs `destination` for a delete marker of `source_bucket`'s `key`
/// replicates delete markers (a marker has no tags: only rules without tag filters select it).
pub fn replicates_markers(
    config: &Config,
    source_bucket: &str,
    destination: &DestinationId,
    key: &str,
) -> bool {
    governing(config, source_bucket, destination, key, &[])
        .is_some_and(|r| r.delete_marker_replication)
}

/// The rule that governs `destination` for an object of `source_bucket` with this key and these
/// tags (the highest-priority one that selects it), if any. A delete marker has no tags: pass
/// none, and only rules without tag filters can select it (as in S3).
pub fn governing<'c>(
    config: &'c Config,
    source_bucket: &str,
    destination: &DestinationId,
    key: &str,
    tags: &[(String, String)],
) -> Option<&'c Rule> {
    select(config, source_bucket, key, tags)
        .into_iter()
        .find(|r| r.destination.id() == *destination)
}

/// A rule into the event's own bucket on the function's own endpoint (a bucket of that name on
/// another endpoint is another bucket).
fn is_source_itself(rule: &Rule, source_bucket: &str) -> bool {
    rule.destination.endpoint.is_none() && rule.destination.bucket == source_bucket
}

fn best_per_destination<'c>(
    config: &'c Config,
    source_bucket: &str,
    matches: impl Fn(&Rule) -> bool,
) -> Vec<&'c Rule> {
    let mut chosen: Vec<&Rule> = Vec::new();
    for rule in config
        .rules
        .iter()
        .filter(|r| r.enabled && !is_source_itself(r, source_bucket) && matches(r))
    {
        let id = rule.destination.id();
        match chosen.iter_mut().find(|c| c.destination.id() == id) {
            Some(current) if rule.priority > current.priority => *current = rule,
            Some(_) => {}
            None => chosen.push(rule),
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        Config::from_json(json).unwrap()
    }

    fn rule(id: &str, priority: i64, status: &str, filter: &str, bucket: &str) -> String {
        format!(
            r#"{{"ID":"{id}","Priority":{priority},"Status":"{status}","Filter":{filter},"DeleteMarkerReplication":{{"Status":"Disabled"}},"Destination":{{"Bucket":"{bucket}"}}}}"#
        )
    }

    fn ids(rules: Vec<&Rule>) -> Vec<&str> {
        rules.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn highest_priority_rule_wins_per_destination() {
        let cfg = config(&format!(
            r#"{{"Rules":[{},{}]}}"#,
            rule("low", 1, "Enabled", r#"{"Prefix":""}"#, "dst-a"),
            rule("high", 5, "Enabled", r#"{"Prefix":"docs/"}"#, "dst-a"),
        ));
        assert_eq!(ids(select(&cfg, "src", "docs/a.txt", &[])), ["high"]);
        assert_eq!(ids(select(&cfg, "src", "img/a.png", &[])), ["low"]);
    }

    #[test]
    fn object_goes_to_every_destination_with_a_matching_rule() {
        let cfg = config(&format!(
            r#"{{"Rules":[{},{},{}]}}"#,
            rule("a", 1, "Enabled", "{}", "dst-a"),
            rule("b", 2, "Enabled", r#"{"Prefix":"x"}"#, "dst-b"),
            rule("c", 3, "Enabled", r#"{"Prefix":"y"}"#, "dst-c"),
        ));
        assert_eq!(ids(select(&cfg, "src", "x1", &[])), ["a", "b"]);
    }

    #[test]
    fn disabled_rule_selects_nothing() {
        let cfg = config(&format!(
            r#"{{"Rules":[{},{}]}}"#,
            rule("off", 9, "Disabled", "{}", "dst-a"),
            rule("on", 1, "Enabled", r#"{"Prefix":"keep/"}"#, "dst-a"),
        ));
        assert!(select(&cfg, "src", "other", &[]).is_empty());
        assert_eq!(ids(select(&cfg, "src", "keep/1", &[])), ["on"]);
    }

    #[test]
    fn rule_pointing_at_the_source_bucket_is_left_out() {
        let cfg = config(&format!(
            r#"{{"Rules":[{},{}]}}"#,
            rule("a-to-b", 1, "Enabled", "{}", "bucket-b"),
            rule("b-to-a", 2, "Enabled", "{}", "bucket-a"),
        ));
        assert_eq!(ids(select(&cfg, "bucket-a", "k", &[])), ["a-to-b"]);
        assert_eq!(ids(select(&cfg, "bucket-b", "k", &[])), ["b-to-a"]);
    }

    #[test]
    fn bucket_of_the_same_name_on_another_endpoint_is_another_destination() {
        let remote = |id: &str, priority: i64| {
            format!(
                r#"{{"ID":"{id}","Priority":{priority},"Status":"Enabled","Filter":{{}},"DeleteMarkerReplication":{{"Status":"Disabled"}},"Destination":{{"Bucket":"bucket-a","Endpoint":"https://other.example","Region":"r1"}}}}"#
            )
        };
        let cfg = config(&format!(
            r#"{{"Rules":[{},{},{}]}}"#,
            rule("local", 1, "Enabled", "{}", "bucket-b"),
            remote("remote", 2),
            rule("own", 3, "Enabled", "{}", "bucket-a"),
        ));
        // From bucket-a: its own name is left out only on its own endpoint.
        assert_eq!(ids(select(&cfg, "bucket-a", "k", &[])), ["local", "remote"]);
        // From bucket-b: bucket-a here and bucket-a there are two destinations.
        assert_eq!(ids(select(&cfg, "bucket-b", "k", &[])), ["remote", "own"]);
    }

    #[test]
    fn a_delete_marker_is_governed_only_by_rules_without_tag_filters() {
        let cfg = config(&format!(
            r#"{{"Rules":[{},{}]}}"#,
            rule(
                "tagged",
                9,
                "Enabled",
                r#"{"Tag":{"Key":"a","Value":"1"}}"#,
                "dst-a"
            ),
            rule("all", 1, "Enabled", "{}", "dst-a"),
        ));
        let dst = cfg.rules[0].destination.id();
        let tagged = [("a".to_owned(), "1".to_owned())];
        let id = |r: Option<&Rule>| r.map(|r| r.id.clone());
        assert_eq!(
            id(governing(&cfg, "src", &dst, "k", &tagged)).as_deref(),
            Some("tagged")
        );
        assert_eq!(
            id(governing(&cfg, "src", &dst, "k", &[])).as_deref(),
            Some("all")
        );
    }

    #[test]
    fn tag_filters_need_every_tag() {
        let cfg = config(&format!(
            r#"{{"Rules":[{}]}}"#,
            rule(
                "t",
                1,
                "Enabled",
                r#"{"And":{"Prefix":"p/","Tags":[{"Key":"a","Value":"1"},{"Key":"b","Value":"2"}]}}"#,
                "dst-a"
            ),
        ));
        let both = [("a".into(), "1".into()), ("b".into(), "2".into())];
        assert_eq!(ids(select(&cfg, "src", "p/k", &both)), ["t"]);
        assert!(select(&cfg, "src", "p/k", &both[..1]).is_empty());
        assert!(select(&cfg, "src", "q/k", &both).is_empty());
    }
}
