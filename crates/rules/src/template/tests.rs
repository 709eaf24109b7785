//! Expected strings are worked out by hand from Go's `text/template` and `fmt`
//! documentation and Prometheus' template reference.

use super::*;

fn data(value: f64) -> TemplateData {
    let labels = [
        ("alertname", "InstanceDown"),
        ("instance", "node1.example.com:9100"),
        ("job", "node"),
    ];
    TemplateData {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        external_labels: [("cluster".to_string(), "eu-1".to_string())]
            .into_iter()
            .collect(),
        external_url: "https://prom.example.com:9090/prometheus".into(),
        value,
    }
}

fn render(t: &str, value: f64) -> String {
    match expand(t, &data(value)) {
        Ok(s) => s,
        Err(e) => panic!("{t:?}: {e}"),
    }
}

fn render_err(t: &str, value: f64) -> TemplateError {
    match expand(t, &data(value)) {
        Ok(s) => panic!("{t:?}: expected an error, got {s:?}"),
        Err(e) => e,
    }
}

/// Renders `{{ FUNC ARG }}` style cases.
fn table(cases: &[(&str, &str)]) {
    for (t, want) in cases {
        assert_eq!(render(t, 0.0), *want, "template {t:?}");
    }
}

#[test]
fn humanize() {
    table(&[
        ("{{ humanize 0.0 }}", "0"),
        ("{{ humanize 1234567.0 }}", "1.235M"),
        ("{{ humanize 1000.0 }}", "1k"),
        ("{{ humanize 999.0 }}", "999"),
        ("{{ humanize 1.5 }}", "1.5"),
        ("{{ humanize 12346.0 }}", "12.35k"),
        ("{{ humanize 1048576.0 }}", "1.049M"),
        ("{{ humanize -1234.0 }}", "-1.234k"),
        ("{{ humanize 0.001234 }}", "1.234m"),
        ("{{ humanize 0.0005 }}", "500u"),
        ("{{ humanize 1e27 }}", "1000Y"),
        ("{{ humanize 5 }}", "5"),
        ("{{ humanize \"1234\" }}", "1.234k"),
        ("{{ humanize \"NaN\" }}", "NaN"),
        ("{{ humanize \"+Inf\" }}", "+Inf"),
        ("{{ humanize \"-Inf\" }}", "-Inf"),
    ]);
}

#[test]
fn humanize1024() {
    table(&[
        ("{{ humanize1024 1536.0 }}", "1.5Ki"),
        ("{{ humanize1024 1048576.0 }}", "1Mi"),
        ("{{ humanize1024 1024.0 }}", "1Ki"),
        ("{{ humanize1024 1023.0 }}", "1023"),
        ("{{ humanize1024 1.0 }}", "1"),
        ("{{ humanize1024 0.5 }}", "0.5"),
        ("{{ humanize1024 1073741824.0 }}", "1Gi"),
        ("{{ humanize1024 -2048.0 }}", "-2Ki"),
    ]);
}

#[test]
fn humanize_duration() {
    table(&[
        ("{{ humanizeDuration 3661.0 }}", "1h 1m 1s"),
        ("{{ humanizeDuration 0.5 }}", "500ms"),
        ("{{ humanizeDuration 899.99 }}", "14m 59s"),
        ("{{ humanizeDuration 90061.0 }}", "1d 1h 1m 1s"),
        ("{{ humanizeDuration 86400.0 }}", "1d 0h 0m 0s"),
        ("{{ humanizeDuration 3600.0 }}", "1h 0m 0s"),
        ("{{ humanizeDuration 1.5 }}", "1.5s"),
        ("{{ humanizeDuration 59.0 }}", "59s"),
        ("{{ humanizeDuration 0.0 }}", "0s"),
        ("{{ humanizeDuration 0.0025 }}", "2.5ms"),
        ("{{ humanizeDuration -3661.0 }}", "-1h 1m 1s"),
        ("{{ humanizeDuration -0.5 }}", "-500ms"),
        ("{{ humanizeDuration \"NaN\" }}", "NaN"),
        ("{{ humanizeDuration 60 }}", "1m 0s"),
    ]);
}

#[test]
fn humanize_percentage() {
    table(&[
        ("{{ humanizePercentage 0.1234 }}", "12.34%"),
        ("{{ humanizePercentage 0.1234567 }}", "12.35%"),
        ("{{ humanizePercentage 1.0 }}", "100%"),
        ("{{ humanizePercentage 0.5 }}", "50%"),
        ("{{ humanizePercentage 0.0 }}", "0%"),
        ("{{ humanizePercentage 12.5 }}", "1250%"),
    ]);
}

#[test]
fn timestamps_and_durations() {
    table(&[
        (
            "{{ humanizeTimestamp 1435065584.128 }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (
            "{{ humanizeTimestamp 0.0 }}",
            "1970-01-01 00:00:00 +0000 UTC",
        ),
        (
            "{{ humanizeTimestamp 951782400 }}",
            "2000-02-29 00:00:00 +0000 UTC",
        ),
        (
            "{{ humanizeTimestamp -1.5 }}",
            "1969-12-31 23:59:58.5 +0000 UTC",
        ),
        ("{{ humanizeTimestamp \"NaN\" }}", "NaN"),
        ("{{ toTime 0 }}", "1970-01-01 00:00:00 +0000 UTC"),
        ("{{ toTime 1e9 }}", "2001-09-09 01:46:40 +0000 UTC"),
        ("{{ toDuration 90.5 }}", "1m30.5s"),
        ("{{ toDuration 3600 }}", "1h0m0s"),
        ("{{ toDuration 0.0015 }}", "1.5ms"),
        ("{{ toDuration 0 }}", "0s"),
        ("{{ toDuration 0.0000025 }}", "2.5µs"),
        ("{{ parseDuration \"1h30m\" }}", "5400"),
        ("{{ parseDuration \"500ms\" }}", "0.5"),
        ("{{ parseDuration \"1d\" }}", "86400"),
        ("{{ parseDuration \"0\" }}", "0"),
        ("{{ parseDuration \"-5m\" }}", "-300"),
        (
            "{{ parseDuration \"1w\" | humanizeDuration }}",
            "7d 0h 0m 0s",
        ),
    ]);
    assert!(render_err("{{ parseDuration \"30m1h\" }}", 0.0)
        .message
        .contains("not a valid duration string"));
    assert!(render_err("{{ toTime \"NaN\" }}", 0.0)
        .message
        .contains("NaN or Inf"));
}

#[test]
fn string_functions() {
    table(&[
        ("{{ title \"aa bb CC\" }}", "Aa Bb CC"),
        ("{{ title \"foo-bar_baz\" }}", "Foo-Bar_baz"),
        ("{{ toUpper \"aA bB\" }}", "AA BB"),
        ("{{ toLower \"aA bB CC\" }}", "aa bb cc"),
        ("{{ toUpper \"straße\" }}", "STRAßE"),
        ("{{ match \"a+\" \"aa\" }}", "true"),
        ("{{ match \"b\" \"ab\" }}", "true"),
        ("{{ match \"^b\" \"ab\" }}", "false"),
        ("{{ match \"a{b}\" \"xa{b}y\" }}", "true"),
        ("{{ match \"(?i)HOST\" \"host1\" }}", "true"),
        (
            "{{ reReplaceAll \"localhost:(.*)\" \"my.domain:$1\" \"localhost:3000\" }}",
            "my.domain:3000",
        ),
        (
            "{{ reReplaceAll \"(a)(b)?\" \"[$1$2]\" \"ab a\" }}",
            "[ab] [a]",
        ),
        ("{{ reReplaceAll \"x\" \"y\" \"axbxc\" }}", "aybyc"),
        ("{{ reReplaceAll \"`\" \"'\" \"a`b\" }}", "a'b"),
        (
            "{{ reReplaceAll \"(?P<h>[^:]+):\\\\d+\" \"${h}\" \"web:80\" }}",
            "web",
        ),
        ("{{ reReplaceAll \"[)]\" \"\" \"a)b\" }}", "ab"),
        ("{{ stripPort \"localhost:9090\" }}", "localhost"),
        ("{{ stripPort \"[::1]:9090\" }}", "::1"),
        ("{{ stripPort \"example.com\" }}", "example.com"),
        ("{{ stripPort \"::1\" }}", "::1"),
        ("{{ stripPort \"10.0.0.1:80\" }}", "10.0.0.1"),
        ("{{ stripDomain \"foo.example.com:9090\" }}", "foo:9090"),
        ("{{ stripDomain \"foo.example.com\" }}", "foo"),
        ("{{ stripDomain \"10.0.0.1:9090\" }}", "10.0.0.1:9090"),
        ("{{ stripDomain \"[::1]:9090\" }}", "[::1]:9090"),
        ("{{ stripDomain \"localhost\" }}", "localhost"),
        ("{{ safeHtml \"<b>x</b>\" }}", "<b>x</b>"),
        (
            "{{ externalURL }}",
            "https://prom.example.com:9090/prometheus",
        ),
        ("{{ pathPrefix }}", "/prometheus"),
    ]);
    let e = render_err("{{ match \"a)|(b\" \"a\" }}", 0.0);
    assert!(e.message.contains("error parsing regexp"), "{e}");
    let e = render_err("{{ match \"(\" \"a\" }}", 0.0);
    assert!(e.message.contains("error parsing regexp"), "{e}");
}

#[test]
fn printf_verbs() {
    table(&[
        ("{{ printf \"%.2f\" 3.14159 }}", "3.14"),
        ("{{ printf \"%d\" 5 }}", "5"),
        ("{{ printf \"%s\" \"x\" }}", "x"),
        ("{{ printf \"%v\" 1e6 }}", "1e+06"),
        ("{{ printf \"%v\" 5 }}", "5"),
        ("{{ printf \"%f\" 1.5 }}", "1.500000"),
        ("{{ printf \"%5.1f|\" 3.14159 }}", "  3.1|"),
        ("{{ printf \"%-5s|\" \"ab\" }}", "ab   |"),
        ("{{ printf \"%5s|\" \"ab\" }}", "   ab|"),
        ("{{ printf \"%05d\" -42 }}", "-0042"),
        ("{{ printf \"%+d\" 5 }}", "+5"),
        ("{{ printf \"%x\" 255 }}", "ff"),
        ("{{ printf \"%#x\" 255 }}", "0xff"),
        ("{{ printf \"%X\" \"hi\" }}", "6869"),
        ("{{ printf \"%q\" \"a\\\"b\\n\" }}", "\"a\\\"b\\n\""),
        ("{{ printf \"%e\" 1234.5678 }}", "1.234568e+03"),
        ("{{ printf \"%.2e\" 0.000123 }}", "1.23e-04"),
        ("{{ printf \"%g\" 0.00001234 }}", "1.234e-05"),
        ("{{ printf \"%g\" 100000.0 }}", "100000"),
        ("{{ printf \"%g\" 1000000.0 }}", "1e+06"),
        ("{{ printf \"%.3g\" 1234.0 }}", "1.23e+03"),
        ("{{ printf \"%.3g\" 0.5 }}", "0.5"),
        ("{{ printf \"%G\" 1e-10 }}", "1E-10"),
        ("{{ printf \"%08.3f\" -3.14159 }}", "-003.142"),
        ("{{ printf \"%6.2f%%\" 99.5 }}", " 99.50%"),
        ("{{ printf \"100%%\" }}", "100%"),
        ("{{ printf \"%.3s\" \"abcdef\" }}", "abc"),
        ("{{ printf \"%t\" true }}", "true"),
        ("{{ printf \"%c\" 65 }}", "A"),
        ("{{ printf \"%q\" 'x' }}", "'x'"),
        ("{{ printf \"%f\" $value }}", "0.000000"),
        ("{{ printf \"%.1f\" \"NaN\" }}", "%!f(string=NaN)"),
        ("{{ printf \"%d\" 1.5 }}", "%!d(float64=1.5)"),
        ("{{ printf \"%s\" 1.5 }}", "%!s(float64=1.5)"),
        ("{{ printf \"%d\" }}", "%!d(MISSING)"),
        ("{{ printf \"%d\" 1 2 }}", "1%!(EXTRA int=2)"),
        (
            "{{ printf \"%s\" $labels }}",
            "map[alertname:InstanceDown instance:node1.example.com:9100 job:node]",
        ),
        ("{{ printf \"%*d|\" 4 7 }}", "   7|"),
        (
            "{{ printf \"%v %v\" (toTime 0) (toDuration 1.5) }}",
            "1970-01-01 00:00:00 +0000 UTC 1.5s",
        ),
    ]);
}

#[test]
fn float_special_values_in_printf() {
    let d = |v: f64, t: &str| render(t, v);
    assert_eq!(d(f64::NAN, "{{ printf \"%.2f\" $value }}"), "NaN");
    assert_eq!(d(f64::INFINITY, "{{ printf \"%.2f\" $value }}"), "+Inf");
    assert_eq!(d(f64::NEG_INFINITY, "{{ printf \"%.2f\" $value }}"), "-Inf");
    assert_eq!(d(f64::NAN, "{{ printf \"%+.2f\" $value }}"), "+NaN");
    assert_eq!(d(f64::INFINITY, "{{ printf \"%06.1f\" $value }}"), "  +Inf");
}

#[test]
fn print_and_builtins() {
    table(&[
        ("{{ print 1 2 }}", "1 2"),
        ("{{ print \"a\" \"b\" }}", "ab"),
        ("{{ print \"a\" 1 2 \"b\" }}", "a1 2b"),
        ("{{ println \"a\" 1 }}", "a 1\n"),
        ("{{ len $labels }}", "3"),
        ("{{ len \"abc\" }}", "3"),
        ("{{ $labels | len }}", "3"),
        ("{{ index $labels \"job\" }}", "node"),
        ("[{{ index $labels \"nope\" }}]", "[]"),
        ("{{ index \"abc\" 1 }}", "98"),
        ("{{ slice \"abcdef\" 1 3 }}", "bc"),
        ("{{ slice \"abcdef\" 2 }}", "cdef"),
        (
            "{{ html \"<a href='x'>&\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp;",
        ),
        ("{{ urlquery \"a b&c/d\" }}", "a+b%26c%2Fd"),
        ("{{ js \"a'b<\" }}", "a\\'b\\u003C"),
        ("{{ eq \"a\" \"b\" \"a\" }}", "true"),
        ("{{ eq 1 2 }}", "false"),
        ("{{ ne \"a\" \"b\" }}", "true"),
        ("{{ lt 1 2 }}", "true"),
        ("{{ le 2 2 }}", "true"),
        ("{{ gt \"b\" \"a\" }}", "true"),
        ("{{ ge 1.5 2.5 }}", "false"),
        ("{{ eq $value 0.0 }}", "true"),
        ("{{ eq $labels.job \"node\" }}", "true"),
        ("{{ and 1 0 }}", "0"),
        ("{{ and 1 \"y\" }}", "y"),
        ("{{ or 0 \"\" \"x\" }}", "x"),
        ("{{ or 0 \"\" }}", ""),
        ("{{ or 1 (index 5 1) }}", "1"),
        ("{{ and 0 (index 5 1) }}", "0"),
        ("{{ not 0 }}", "true"),
        ("{{ not \"x\" }}", "false"),
        ("{{ 1 | not }}", "false"),
    ]);
}

#[test]
fn value_printing_follows_go() {
    let cases: &[(f64, &str)] = &[
        (1_000_000.0, "1e+06"),
        (0.5, "0.5"),
        (100.0, "100"),
        (123_456.0, "123456"),
        (1_234_567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (0.0, "0"),
    ];
    for (v, want) in cases {
        assert_eq!(render("{{ $value }}", *v), *want, "value {v}");
        assert_eq!(render("{{ .Value }}", *v), *want, "value {v}");
    }
    table(&[
        ("{{ 1.5 }}", "1.5"),
        ("{{ 1e3 }}", "1000"),
        ("{{ 0x1F }}", "31"),
        ("{{ 0o17 }}", "15"),
        ("{{ 1_000 }}", "1000"),
        ("{{ 'a' }}", "97"),
        ("{{ -3 }}", "-3"),
        ("{{ true }}", "true"),
        ("{{ \"s\\tt\" }}", "s\tt"),
        ("{{ `raw\\n` }}", "raw\\n"),
    ]);
}

#[test]
fn typical_annotations() {
    assert_eq!(
        render(
            "{{ $labels.instance }} is down ({{ $value | humanize }})",
            1_234_567.0
        ),
        "node1.example.com:9100 is down (1.235M)"
    );
    let t = "{{ if gt $value 0.5 }}high{{ else }}low{{ end }}";
    assert_eq!(render(t, 0.7), "high");
    assert_eq!(render(t, 0.2), "low");
    let t = "{{ if gt $value 0.9 }}critical{{ else if gt $value 0.5 }}warning{{ else }}ok{{ end }}";
    assert_eq!(render(t, 0.95), "critical");
    assert_eq!(render(t, 0.7), "warning");
    assert_eq!(render(t, 0.1), "ok");
    assert_eq!(
        render(
            "Instance {{ .Labels.instance | stripPort }} of job {{ .Labels.job }} ({{ $externalLabels.cluster }})",
            1.0
        ),
        "Instance node1.example.com of job node (eu-1)"
    );
    assert_eq!(
        render("{{ $labels.instance | stripDomain | toUpper }}", 1.0),
        "NODE1:9100"
    );
    assert_eq!(
        render(
            "{{ printf \"%s-%s\" (toUpper $labels.job) $labels.alertname }}",
            1.0
        ),
        "NODE-InstanceDown"
    );
    assert_eq!(render("{{ .Value | printf \"%.1f\" }}%", 93.25), "93.2%");
    assert_eq!(
        render("{{ $externalURL }}/graph {{ .ExternalURL }}", 0.0),
        "https://prom.example.com:9090/prometheus/graph https://prom.example.com:9090/prometheus"
    );
    assert_eq!(render("{{ $.Labels.job }}", 0.0), "node");
    assert_eq!(
        render("Disk {{ humanizePercentage $value }} full", 0.8512),
        "Disk 85.12% full"
    );
}

#[test]
fn missing_labels_render_empty() {
    assert_eq!(render("[{{ $labels.nope }}]", 0.0), "[]");
    assert_eq!(render("[{{ .Labels.nope }}]", 0.0), "[]");
    assert_eq!(render("[{{ $externalLabels.nope }}]", 0.0), "[]");
    assert_eq!(
        render("{{ if $labels.nope }}yes{{ else }}no{{ end }}", 0.0),
        "no"
    );
}

#[test]
fn range_with_and_variables() {
    table(&[
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            "alertname=InstanceDown;instance=node1.example.com:9100;job=node;",
        ),
        ("{{ range $labels }}[{{ . }}]{{ end }}", "[InstanceDown][node1.example.com:9100][node]"),
        ("{{ range $v := $externalLabels }}{{ $v }}{{ end }}", "eu-1"),
        ("{{ range .ExternalLabels }}x{{ else }}none{{ end }}", "x"),
        (
            "{{ range $k, $v := $labels }}{{ if eq $k \"instance\" }}{{ break }}{{ end }}{{ $k }}{{ end }}",
            "alertname",
        ),
        (
            "{{ range $k, $v := $labels }}{{ if eq $k \"instance\" }}{{ continue }}{{ end }}{{ $k }} {{ end }}",
            "alertname job ",
        ),
        ("{{ range $i := 3 }}{{ $i }}{{ end }}", "012"),
        ("{{ range $k, $v := $labels }}{{ end }}{{ $value }}", "0"),
        ("{{ with $labels.job }}job={{ . }}{{ else }}no job{{ end }}", "job=node"),
        ("{{ with $labels.nope }}x{{ else }}no nope{{ end }}", "no nope"),
        ("{{ with $labels.nope }}x{{ else with $labels.job }}{{ . }}{{ end }}", "node"),
        ("{{ with .Labels }}{{ .job }}{{ end }}", "node"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ $x := \"a\" }}{{ if true }}{{ $x = \"b\" }}{{ end }}{{ $x }}", "b"),
        ("{{ $v := $value | humanize }}v={{ $v }}", "v=0"),
        ("{{ if $x := $labels.job }}{{ $x }}{{ end }}", "node"),
    ]);
    let mut d = data(0.0);
    d.labels.clear();
    assert_eq!(
        expand("{{ range $labels }}x{{ else }}none{{ end }}", &d).ok(),
        Some("none".to_string())
    );
}

#[test]
fn trimming_and_comments() {
    table(&[
        ("a  {{- 1 -}}  b", "a1b"),
        ("a {{- /* c */ -}} b", "ab"),
        ("{{ 1 }}\n{{- 2 }}", "12"),
        ("x\n  {{- `y` }}", "xy"),
        ("{{ 1 -}}\n\t y", "1y"),
        ("{{-3}}", "-3"),
        ("{{ 3 }} - {{ 4 }}", "3 - 4"),
        ("a{{/* comment */}}b", "ab"),
        ("a{{/* multi\nline */}}b", "ab"),
        ("a{{- /* c */}} b", "a b"),
        ("{{ \"}}\" }}", "}}"),
        (
            "{{ range $k, $v := $externalLabels -}}\n  {{ $k }}: {{ $v }}\n{{ end -}}",
            "cluster: eu-1\n",
        ),
        ("{{\n  humanize\n  1234.0\n}}", "1.234k"),
    ]);
}

fn err_at(t: &str) -> TemplateError {
    match check(t) {
        Ok(()) => panic!("{t:?}: expected a parse error"),
        Err(e) => e,
    }
}

#[test]
fn parse_errors_name_position() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("{{ $labels.job ", 1, 1, "unclosed action"),
        ("abc\n  {{ foo }}", 2, 6, "function \"foo\" not defined"),
        ("{{ query \"up\" | first }}", 1, 4, "not supported"),
        ("{{ label \"x\" . }}", 1, 4, "not supported"),
        (
            "{{ $value | 1 }}",
            1,
            13,
            "non executable command in pipeline stage 2",
        ),
        ("{{ | humanize }}", 1, 4, "missing value for command"),
        ("x\n{{ if true }}x", 2, 4, "{{if}} has no matching {{end}}"),
        (
            "{{ range $labels }}",
            1,
            4,
            "{{range}} has no matching {{end}}",
        ),
        ("ok {{ end }}", 1, 7, "unexpected {{end}}"),
        ("{{ else }}", 1, 4, "unexpected {{else}}"),
        ("{{ \"abc }}", 1, 4, "unterminated quoted string"),
        ("{{ `abc }}", 1, 4, "unterminated raw quoted string"),
        ("{{ $nope }}", 1, 4, "undefined variable \"$nope\""),
        (
            "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}",
            1,
            39,
            "undefined variable \"$y\"",
        ),
        ("{{ $y = 1 }}", 1, 4, "undefined variable \"$y\""),
        ("{{/* x }}", 1, 1, "unclosed comment"),
        (
            "{{/* x */ }}",
            1,
            10,
            "comment ends before closing delimiter",
        ),
        ("{{ (1 }}", 1, 7, "unclosed left paren"),
        ("{{ 1) }}", 1, 5, "unexpected right paren"),
        ("{{ template \"x\" . }}", 1, 4, "not supported"),
        ("{{ break }}", 1, 4, "outside {{range}}"),
        ("{{ 1x }}", 1, 4, "bad number syntax"),
        ("{{ nil }}", 1, 4, "nil is not a command"),
        ("{{ }}", 1, 4, "missing value for command"),
        ("{{ if }}{{ end }}", 1, 7, "missing value for if"),
        ("{{ \"a\\q\" }}", 1, 6, "invalid escape"),
        ("{{ # }}", 1, 4, "unrecognized character"),
        ("{{ $a, $b := $labels }}", 1, 6, "too many declarations"),
        (
            "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
            1,
            24,
            "expected {{end}}; found {{else}}",
        ),
        ("éé {{ foo }}", 1, 7, "not defined"),
    ];
    for (t, line, col, msg) in cases {
        let e = err_at(t);
        assert!(e.message.contains(msg), "{t:?}: {e}");
        assert_eq!((e.line, e.column), (*line, *col), "{t:?}: {e}");
        // expand reports the same error.
        assert_eq!(expand(t, &data(0.0)).err(), Some(e.clone()), "{t:?}");
    }
    assert_eq!(
        err_at("{{ foo }}").to_string(),
        "template: 1:4: function \"foo\" not defined"
    );
}

#[test]
fn execution_errors_name_position() {
    let cases: &[(&str, usize, usize, &str)] = &[
        (
            "{{ gt $value 1 }}",
            1,
            4,
            "error calling gt: incompatible types for comparison",
        ),
        (
            "{{ eq $value \"1\" }}",
            1,
            4,
            "incompatible types for comparison",
        ),
        ("{{ lt true false }}", 1, 4, "invalid type for comparison"),
        ("{{ eq $labels $labels }}", 1, 4, "non-comparable type"),
        (
            "x\n {{ humanize \"abc\" }}",
            2,
            5,
            "strconv.ParseFloat: parsing \"abc\": invalid syntax",
        ),
        (
            "{{ $value | toUpper }}",
            1,
            13,
            "expected string; got float64",
        ),
        ("{{ .Foo }}", 1, 4, "can't evaluate field Foo"),
        (
            "{{ $value.x }}",
            1,
            4,
            "can't evaluate field x in type float64",
        ),
        (
            "{{ humanize 1.0 2.0 }}",
            1,
            4,
            "wrong number of args for humanize: want 1 got 2",
        ),
        (
            "{{ $value 1 }}",
            1,
            4,
            "can't give argument to non-function $value",
        ),
        (
            "{{ $value | $labels }}",
            1,
            13,
            "can't give argument to non-function $labels",
        ),
        (
            "{{ range $value }}{{ end }}",
            1,
            4,
            "range can't iterate over 0",
        ),
        ("{{ len $value }}", 1, 4, "len of type float64"),
        ("{{ index $labels 1 }}", 1, 4, "should be string"),
        ("{{ toTime 1e300 }}", 1, 4, "overflows int64"),
    ];
    for (t, line, col, msg) in cases {
        assert_eq!(check(t), Ok(()), "{t:?} should parse");
        let e = render_err(t, 0.0);
        assert!(e.message.contains(msg), "{t:?}: {e}");
        assert_eq!((e.line, e.column), (*line, *col), "{t:?}: {e}");
    }
}

#[test]
fn check_accepts_valid_templates() {
    for t in [
        "plain text",
        "{{ $labels.instance }} is down ({{ $value | humanize }})",
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }}{{ end }}",
        "{{- /* note */ -}}",
        "{{ if and (gt $value 1.0) (lt $value 5.0) }}mid{{ end }}",
        "{{ with $x := $labels.job }}{{ $x }}{{ end }}",
        "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
    ] {
        assert_eq!(check(t), Ok(()), "{t:?}");
    }
}
