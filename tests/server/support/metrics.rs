//! A `/metrics` scrape: the Prometheus text format parsed into samples, summed by name and
//! labels (most tickcast metrics have one sample per shard).

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone)]
pub struct Metrics {
    samples: Vec<Sample>,
    text: String,
}

impl Metrics {
    /// Parses the text exposition format; fails the test on a malformed sample line.
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                parse_sample(line).unwrap_or_else(|| panic!("malformed metrics line {line:?}"))
            })
            .collect();
        Metrics {
            samples,
            text: text.to_owned(),
        }
    }

    /// Sum of the samples named exactly `name` whose labels include all of `labels`; `None`
    /// when no sample matches.
    pub fn try_sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut matching = self
            .samples
            .iter()
            .filter(|sample| sample.name == name && has_labels(sample, labels))
            .peekable();
        matching.peek()?;
        Some(matching.map(|sample| sample.value).sum())
    }

    /// Like [`Metrics::try_sum`], but a missing metric fails the test.
    #[track_caller]
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.try_sum(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in /metrics:\n{}", self.text))
    }

    /// Values of `name` keyed by the value of `label` (e.g. per shard); fails the test if the
    /// metric is missing.
    #[track_caller]
    pub fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut values = BTreeMap::new();
        for sample in self.samples.iter().filter(|sample| sample.name == name) {
            let key = sample
                .labels
                .iter()
                .find(|(key, _)| key == label)
                .map(|(_, value)| value.clone())
                .unwrap_or_else(|| panic!("{name} sample without label {label}: {sample:?}"));
            *values.entry(key).or_insert(0.0) += sample.value;
        }
        assert!(
            !values.is_empty(),
            "no sample {name} in /metrics:\n{}",
            self.text
        );
        values
    }
}

fn has_labels(sample: &Sample, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(key, value)| {
        sample
            .labels
            .iter()
            .any(|(sample_key, sample_value)| sample_key == key && sample_value == value)
    })
}

/// Parses `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            while chars
                .next_if(|(_, c)| *c == ',' || c.is_whitespace())
                .is_some()
            {}
            let &(at, c) = chars.peek()?;
            if c == '}' {
                rest = &inner[at + 1..];
                break;
            }
            let mut key = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=') {
                key.push(c);
            }
            chars.next()?; // '='
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.push((key.trim().to_owned(), value));
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_by_name_and_labels() {
        let metrics = Metrics::parse(
            "# HELP x y\n# TYPE a counter\na 1\nb{shard=\"0\"} 2\nb{shard=\"1\",k=\"q\\\"}\"} 3 1700000000\n\
             b_count 9\nc{quantile=\"0.5\"} 0.25\n",
        );
        assert_eq!(metrics.sum("a", &[]), 1.0);
        assert_eq!(metrics.sum("b", &[]), 5.0);
        assert_eq!(metrics.sum("b", &[("k", "q\"}")]), 3.0);
        assert_eq!(metrics.try_sum("b", &[("shard", "2")]), None);
        assert_eq!(metrics.sum("c", &[("quantile", "0.5")]), 0.25);
        let per_shard = metrics.by_label("b", "shard");
        assert_eq!(per_shard.get("0"), Some(&2.0));
        assert_eq!(per_shard.get("1"), Some(&3.0));
    }
}
