//! Alert label and annotation templates: Go's `text/template` language with Prometheus'
//! template functions, rendering rule files the way Prometheus does.
//!
//! As in Prometheus, `$labels`, `$externalLabels`, `$externalURL` and `$value` are
//! variables, and `.Labels`, `.ExternalLabels`, `.ExternalURL` and `.Value` fields of dot.
//! Templates execute with `missingkey=zero`, so a missing label renders as the empty
//! string.
//!
//! Supported syntax: text and `{{ }}` actions with `{{-`/`-}}` trimming; comments;
//! variables (`:=`, `=`), field chains, parenthesised pipelines and `|` pipelines;
//! `if`/`else if`/`else`, `with`/`else with`/`else`, `range` (over maps in key order and
//! over integers) with `else`, `break` and `continue`.
//!
//! Functions: Go's `and`, `or`, `not`, `len`, `index`, `slice`, `print`, `printf`,
//! `println`, `html`, `js`, `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`; Prometheus'
//! `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`,
//! `humanizeTimestamp`, `toTime`, `toDuration`, `title`, `toUpper`, `toLower`, `match`,
//! `reReplaceAll`, `stripPort`, `stripDomain`, `parseDuration`, `safeHtml`, `externalURL`
//! and `pathPrefix`. Query-based functions (`query`, `first`, `label`, `value`,
//! `sortByLabel`, `strvalue`), `now`, `call`, `args`, `tmpl` and named templates
//! (`define`, `template`, `block`) are rejected at parse time.

use std::collections::BTreeMap;

mod exec;
mod funcs;
mod parse;
mod value;

#[cfg(test)]
mod tests;

/// What a template sees.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

/// A parse or execution error, at a 1-based line and column (in characters) of the
/// template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {line}:{column}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl TemplateError {
    fn at(src: &str, err: parse::PosError) -> Self {
        let pos = err.pos.min(src.len());
        let pos = (0..=pos)
            .rev()
            .find(|p| src.is_char_boundary(*p))
            .unwrap_or(0);
        let before = &src[..pos];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        TemplateError {
            line,
            column,
            message: err.msg,
        }
    }
}

/// Renders `template` with `data`.
pub fn expand(template: &str, data: &TemplateData) -> Result<String, TemplateError> {
    let nodes = parse::parse(template).map_err(|e| TemplateError::at(template, e))?;
    exec::execute(&nodes, data).map_err(|e| TemplateError::at(template, e))
}

/// Parses `template` without executing it: syntax, unknown or unsupported functions, and
/// undefined variables.
pub fn check(template: &str) -> Result<(), TemplateError> {
    parse::parse(template)
        .map(|_| ())
        .map_err(|e| TemplateError::at(template, e))
}
