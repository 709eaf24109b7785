//! `match[]` series selectors (`up{job="api"}`, `{__name__=~"node_.*"}`) parsed with the
//! promql-parser crate into Strix matchers.

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, Expr};
use strix_core::{MatchOp, Matcher};

/// Parses one selector into alternative matcher sets (Prometheus 3 allows `or` inside
/// braces); a series matches when it matches every matcher of any set.
pub fn parse(sel: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let expr = parser::parse(sel).map_err(|e| format!("invalid series selector {sel:?}: {e}"))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "invalid series selector {sel:?}: not a plain selector"
        ));
    };
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>, String> {
        let mut out = Vec::new();
        if let Some(n) = &vs.name {
            out.push(Matcher::equal(strix_core::METRIC_NAME, n.clone()));
        }
        for m in ms {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::RegexMatch,
                PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
            };
            out.push(Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| e.to_string())?);
        }
        if out.iter().all(|m| m.matches_empty()) {
            return Err(format!("series selector {sel:?} must contain at least one matcher that does not match the empty string"));
        }
        Ok(out)
    };
    if vs.matchers.or_matchers.is_empty() {
        Ok(vec![convert(&vs.matchers.matchers)?])
    } else {
        vs.matchers
            .or_matchers
            .iter()
            .map(|set| convert(set))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selectors() {
        let sets = parse(r#"up{job=~"api|db", env!="dev"}"#).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].len(), 3);
        assert!(parse(r#"{__name__="x"}"#).is_ok());
        assert!(parse(r#"{env=""}"#).is_err());
        assert!(parse("rate(x[5m])").is_err());
        assert!(parse("up{").is_err());
    }
}
