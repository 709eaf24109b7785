//! Label validation and limits applied to incoming series.

use crate::options::Limits;
use strix_core::storage::RejectReason;
use strix_core::{Labels, METRIC_NAME};

/// Checks a label set against Prometheus' rules and the configured limits. Label names
/// and values may be any UTF-8 (as in Prometheus 3); names must be non-empty.
pub fn validate(labels: &Labels, limits: &Limits) -> Result<(), (RejectReason, String)> {
    match labels.metric_name() {
        None => {
            return Err((
                RejectReason::MissingMetricName,
                format!("series {labels} has no metric name (__name__)"),
            ))
        }
        Some("") => return Err((RejectReason::MissingMetricName, "empty metric name".into())),
        Some(_) => {}
    }
    if let Some(d) = labels.first_duplicate() {
        return Err((
            RejectReason::DuplicateLabel,
            format!("series {labels} has label {d:?} more than once"),
        ));
    }
    if limits.max_labels_per_series > 0 && labels.len() > limits.max_labels_per_series {
        return Err((
            RejectReason::TooManyLabels,
            format!(
                "series {} has {} labels, limit is {}",
                labels.metric_name().unwrap_or(""),
                labels.len(),
                limits.max_labels_per_series
            ),
        ));
    }
    for l in labels.iter() {
        if l.name.is_empty() {
            return Err((
                RejectReason::InvalidLabelName,
                format!("series {labels} has an empty label name"),
            ));
        }
        if l.name.len() > limits.max_label_name_length {
            return Err((
                RejectReason::LabelNameTooLong,
                format!(
                    "label name of {} bytes exceeds the limit of {} bytes",
                    l.name.len(),
                    limits.max_label_name_length
                ),
            ));
        }
        if l.value.len() > limits.max_label_value_length {
            let shown: String = l.name.chars().take(64).collect();
            return Err((
                RejectReason::LabelValueTooLong,
                format!(
                    "value of label {shown:?} is {} bytes, limit is {} bytes",
                    l.value.len(),
                    limits.max_label_value_length
                ),
            ));
        }
        if l.name.starts_with("__")
            && l.name != METRIC_NAME
            && l.name.len() > 2
            && l.name.ends_with("__")
        {
            // Reserved internal labels (`__rollup__`, `__meta_*__`) are not accepted from clients.
            return Err((
                RejectReason::InvalidLabelName,
                format!("label name {:?} is reserved", l.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_problem_with_its_reason() {
        let lim = Limits {
            max_labels_per_series: 3,
            max_label_name_length: 10,
            max_label_value_length: 20,
            ..Limits::default()
        };
        let check = |pairs: &[(&str, &str)]| {
            validate(&Labels::from_pairs(pairs.iter().copied()), &lim)
                .err()
                .map(|e| e.0)
        };
        assert_eq!(check(&[("__name__", "up"), ("a", "b")]), None);
        assert_eq!(check(&[("a", "b")]), Some(RejectReason::MissingMetricName));
        assert_eq!(
            check(&[("__name__", "up"), ("a", "b"), ("a", "c")]),
            Some(RejectReason::DuplicateLabel)
        );
        assert_eq!(
            check(&[("__name__", "up"), ("", "b")]),
            Some(RejectReason::InvalidLabelName)
        );
        assert_eq!(
            check(&[("__name__", "up"), ("a", "1"), ("b", "1"), ("c", "1")]),
            Some(RejectReason::TooManyLabels)
        );
        assert_eq!(
            check(&[("__name__", "up"), ("abcdefghijk", "1")]),
            Some(RejectReason::LabelNameTooLong)
        );
        assert_eq!(
            check(&[("__name__", "up"), ("a", &"x".repeat(21))]),
            Some(RejectReason::LabelValueTooLong)
        );
    }
}
