//! HTML reports: one self-contained page per scenario (inline CSS and SVG, no script, nothing
//! fetched from the network) and an index of a run's pages.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{exact_size, outcome, scenario_function, Report};
use crate::base::format_size;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}\
h1{font-size:1.5em}h1.fail{color:#b00020}h1.pass{color:#1b5e20}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}code,pre{font-family:ui-monospace,monospace;font-size:13px}\
pre{background:#f7f7f7;padding:.6em;overflow-x:auto}.src span{display:block;white-space:pre}\
.src .keep{background:#ffd7d7;font-weight:bold}.src .alloc{background:#fff3c4}\
.legend span{margin-right:1.5em}.path li{margin:.15em 0}";

/// Colours of the timeline's series: allocated, reserved, graph nodes.
const COLOURS: [&str; 3] = ["#d62728", "#1f77b4", "#2ca02c"];

/// The page of one scenario's report.
pub fn render_html(r: &Report) -> String {
    let mut h = String::new();
    let title = format!("{}: {}", outcome(r), r.scenario);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(
        h,
        "<h1 class=\"{}\">{}: <code>{}</code></h1>",
        if r.passed { "pass" } else { "fail" },
        esc(outcome(r)),
        esc(&r.scenario)
    );
    if let Some(d) = &r.description {
        let _ = writeln!(h, "<p>{}</p>", esc(d));
    }
    let env = &r.environment;
    let mut rows = vec![
        ("leakharness", env.leakharness.clone()),
        ("backend", r.backend.clone()),
        ("device", r.device.clone()),
    ];
    if let Some(v) = &env.cuda_driver {
        rows.push(("CUDA (driver)", v.clone()));
    }
    if let Some(v) = &env.nvrtc {
        rows.push(("CUDA (NVRTC)", v.clone()));
    }
    rows.push(("OS", env.os.clone()));
    rows.push(("expected", r.expected.clone()));
    rows.push(("verdict", r.verdict.name().to_string()));
    if let Some(c) = &r.command {
        rows.push(("command", c.clone()));
    }
    h.push_str("<table>");
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    h.push_str("</table>\n");
    if let Some(e) = &r.error {
        let _ = writeln!(h, "<h2>Error</h2><pre>{}</pre>", esc(&e.message));
    }
    if let Some(oom) = &r.oom {
        let _ = writeln!(h, "<h2>Out of memory</h2><pre>{}</pre>", esc(&oom.message));
    }
    if !r.stale_allowances.is_empty() {
        h.push_str(
            "<h2>Stale allowances</h2><p>These accept no leak any more; remove them.</p><ul>",
        );
        for a in &r.stale_allowances {
            let _ = write!(
                h,
                "<li><code>{}</code> ({})</li>",
                esc(&a.to_string()),
                esc(&a.from)
            );
        }
        h.push_str("</ul>\n");
    }
    timeline(&mut h, r);
    for (i, l) in r.leaks.iter().enumerate() {
        let kinds: Vec<&str> = l.kinds.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            h,
            "<h2>Leak {} at line {}: <code>{}</code></h2><p>{} — {} and {} graph nodes per iteration.</p><p><b>Fix:</b> {}</p>",
            i + 1,
            l.retained_by.line,
            esc(&l.retained_by.statement),
            esc(&kinds.join(", ")),
            esc(&exact_size(l.bytes_per_iteration)),
            l.graph_nodes_per_iteration,
            esc(&l.help)
        );
        if let Some(allowed) = &l.allowed {
            let _ = writeln!(h, "<p><b>Allowed:</b> {}</p>", esc(allowed));
        }
        if !l.retention_path.is_empty() {
            h.push_str("<p>Held by:</p><ol class=\"path\">");
            for step in &l.retention_path {
                let _ = write!(h, "<li><code>{}</code></li>", esc(step));
            }
            h.push_str("</ol>\n");
        }
        if !l.alloc_sites.is_empty() {
            h.push_str("<table><tr><th>allocated at</th><th>in</th><th>statement</th><th>per iteration</th><th>purpose</th></tr>");
            for s in &l.alloc_sites {
                let _ = write!(
                    h,
                    "<tr><td>line {}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    s.at.line,
                    esc(&scenario_function(&r.source, s.at.line)),
                    esc(&s.at.statement),
                    esc(&exact_size(s.bytes)),
                    esc(&s.purpose)
                );
            }
            h.push_str("</table>\n");
        }
    }
    if !r.source.is_empty() {
        let keep: BTreeSet<u32> = r.leaks.iter().map(|l| l.retained_by.line).collect();
        let alloc: BTreeSet<u32> = r
            .leaks
            .iter()
            .flat_map(|l| l.alloc_sites.iter().map(|s| s.at.line))
            .collect();
        h.push_str("<h2>Scenario</h2><p class=\"legend\"><span class=\"src\"><span class=\"keep\" style=\"display:inline\">retaining line</span></span> <span class=\"src\"><span class=\"alloc\" style=\"display:inline\">allocates the leaked memory</span></span></p><pre class=\"src\">");
        for (i, line) in r.source.lines().enumerate() {
            let n = i as u32 + 1;
            let class = if keep.contains(&n) {
                " class=\"keep\""
            } else if alloc.contains(&n) {
                " class=\"alloc\""
            } else {
                ""
            };
            let _ = write!(h, "<span{class}>{n:>4} | {}</span>", esc(line));
        }
        h.push_str("</pre>\n");
    }
    let _ = write!(
        h,
        "<h2>Peak: {}</h2><table><tr><th>purpose</th><th>size</th></tr>",
        esc(&exact_size(r.peak.allocated))
    );
    for (purpose, bytes) in &r.peak.by_purpose {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(purpose),
            format_size(*bytes)
        );
    }
    h.push_str("</table>");
    if !r.peak.by_statement.is_empty() {
        h.push_str("<table><tr><th>line</th><th>statement</th><th>size</th></tr>");
        for s in &r.peak.by_statement {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                s.at.line,
                esc(&s.at.statement),
                format_size(s.bytes)
            );
        }
        h.push_str("</table>\n");
    }
    let td = &r.after_teardown;
    if !td.live_blocks.is_empty() {
        h.push_str("<h2>Memory left after teardown</h2><table><tr><th>size</th><th>purpose</th><th>allocated at</th></tr>");
        for b in &td.live_blocks {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&exact_size(b.size)),
                esc(&b.purpose),
                esc(b.location.as_deref().unwrap_or("outside the scenario"))
            );
        }
        h.push_str("</table>\n");
    }
    if !r.output.is_empty() {
        let _ = writeln!(h, "<h2>Output</h2><pre>{}</pre>", esc(&r.output.join("\n")));
    }
    h.push_str("</body></html>\n");
    h
}

/// One line of a chart: its values at each iteration end.
struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    values: Vec<u64>,
    /// Whether the values are bytes (axis labels as sizes) or counts.
    bytes: bool,
}

impl Series<'_> {
    fn label(&self, v: u64) -> String {
        if self.bytes {
            format_size(v)
        } else {
            format!("{v} {}", self.name)
        }
    }
}

/// The timeline at the end of every loop iteration, as inline SVG: allocated bytes with live
/// graph nodes, then reserved bytes. Each axis spans its series' own range, labelled at both
/// ends, so growth of a few hundred bytes beside megabytes of cache still shows.
fn timeline(h: &mut String, r: &Report) {
    if r.iterations.is_empty() {
        return;
    }
    let its = &r.iterations;
    let allocated = Series {
        name: "allocated",
        colour: COLOURS[0],
        values: its.iter().map(|p| p.allocated).collect(),
        bytes: true,
    };
    let reserved = Series {
        name: "reserved",
        colour: COLOURS[1],
        values: its.iter().map(|p| p.reserved).collect(),
        bytes: true,
    };
    let nodes = Series {
        name: "graph nodes",
        colour: COLOURS[2],
        values: its.iter().map(|p| p.graph_nodes).collect(),
        bytes: false,
    };
    h.push_str("<h2>Memory over iterations</h2>");
    chart(h, &allocated, Some(&nodes));
    chart(h, &reserved, None);
    let _ = writeln!(
        h,
        "<p class=\"legend\"><span style=\"color:{}\">■ allocated</span><span style=\"color:{}\">┅ graph nodes (right axis)</span><span style=\"color:{}\">■ reserved</span> at the end of each of the {} loop iterations, in order</p>",
        COLOURS[0],
        COLOURS[2],
        COLOURS[1],
        its.len()
    );
}

fn chart(h: &mut String, left_series: &Series<'_>, right_series: Option<&Series<'_>>) {
    let (w, ht, left, right, top, bottom) = (800.0, 200.0, 90.0, 110.0, 12.0, 12.0);
    let plot_w = w - left - right;
    let plot_h = ht - top - bottom;
    let n = left_series.values.len();
    let x = |i: usize| {
        if n == 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let mut aria = left_series.name.to_string();
    if let Some(s) = right_series {
        aria = format!("{aria} and {}", s.name);
    }
    let _ = write!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"{aria} per iteration\"><rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"#fafafa\" stroke=\"#999\"/>"
    );
    for (series, on_left) in
        std::iter::once((left_series, true)).chain(right_series.map(|s| (s, false)))
    {
        let min = series.values.iter().copied().min().unwrap_or(0);
        let max = series.values.iter().copied().max().unwrap_or(0);
        // A flat series sits mid-height rather than on an edge.
        let span = (max - min) as f64;
        let y = |v: u64| {
            if span == 0.0 {
                top + plot_h / 2.0
            } else {
                top + plot_h * (1.0 - (v - min) as f64 / span)
            }
        };
        let points: Vec<String> = series
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        // The right-hand series is dashed: when both grow alike they coincide, and both show.
        let dash = if on_left {
            ""
        } else {
            " stroke-dasharray=\"6 5\""
        };
        let _ = write!(
            h,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            series.colour,
            points.join(" ")
        );
        let (tx, anchor) = if on_left {
            (left - 5.0, "end")
        } else {
            (w - right + 5.0, "start")
        };
        let mut labels = vec![(y(max), series.label(max))];
        if max != min {
            labels.push((y(min), series.label(min)));
        }
        for (ty, text) in labels {
            let _ = write!(
                h,
                "<text x=\"{tx}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"{anchor}\" fill=\"{}\">{}</text>",
                ty + 4.0,
                series.colour,
                esc(&text)
            );
        }
    }
    h.push_str("</svg>\n");
}

/// The index of a run: one row per scenario, linking to its page `<stem>.html`.
pub fn render_index(reports: &[(String, &Report)]) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>leakharness reports</title><style>{STYLE}</style></head><body>\n<h1>leakharness reports</h1>\n<table><tr><th>scenario</th><th>outcome</th><th>leaks</th><th>peak</th></tr>\n"
    );
    for (stem, r) in reports {
        let _ = writeln!(
            h,
            "<tr><td><a href=\"{}.html\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(stem),
            esc(&r.scenario),
            esc(outcome(r)),
            r.leaks.len(),
            esc(&format_size(r.peak.allocated))
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn a_page_is_self_contained_and_marks_the_leak() {
        let mut r = sample_report();
        r.output = vec!["<script>alert(1)</script>".into()];
        let page = render_html(&r);
        // Nothing is fetched: no scripts, stylesheets, images or frames from elsewhere.
        for forbidden in [
            "<script", "<link", "<img", "<iframe", "src=", "url(", "@import",
        ] {
            assert!(!page.contains(forbidden), "{forbidden} in the page");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("<span class=\"keep\">   7 |     losses.append(loss)</span>"));
        assert!(page.contains("<span class=\"alloc\">   6 |"));
        assert_eq!(
            page.matches("<polyline").count(),
            3,
            "allocated, reserved, graph nodes"
        );
        assert!(page.contains("<li><code>losses[0]</code></li>"));
        let index = render_index(&[("leaks-example".into(), &r)]);
        assert!(index.contains("<a href=\"leaks-example.html\">scenarios/leaks/example.py</a>"));
    }
}
