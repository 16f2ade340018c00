//! The HTML report in a real browser: Chromium, headless, screenshots the page of a leak and
//! the picture must show the report (not a blank or an error page).
//!
//! Without Chromium the test is skipped, visibly; `LEAKHARNESS_REQUIRE_BROWSER=1` (which
//! `.ci/run` sets after installing Debian's chromium) makes a missing browser a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn browser() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(PathBuf::from)
}

#[test]
fn a_leak_report_renders_in_headless_chromium() {
    let Some(chromium) = browser() else {
        assert_ne!(
            std::env::var("LEAKHARNESS_REQUIRE_BROWSER").as_deref(),
            Ok("1"),
            "LEAKHARNESS_REQUIRE_BROWSER=1 but no chromium is installed"
        );
        // Straight to stderr: the harness would hide eprintln! output of a passing test, and a
        // skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "a_leak_report_renders_in_headless_chromium: skipped: no chromium to render the HTML report in (apt-get install chromium)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("leakharness-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_leakharness"))
        .args([
            "run",
            "scenarios/leaks/losses_appended_attached.py",
            "--backend",
            "meta",
        ])
        .arg("--report-dir")
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("losses_appended_attached.html");
    assert!(dir.join("index.html").exists());
    let png = dir.join("screenshot.png");
    let profile = dir.join("profile");
    let shot = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1000,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url(&page))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "chromium made no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let rgb = |p: &[u8]| (p[0], p[1], p[2]);
    let all: Vec<(u8, u8, u8)> = pixels[..info.buffer_size()]
        .chunks(channels)
        .map(rgb)
        .collect();
    let ink = all
        .iter()
        .filter(|&&(r, g, b)| r < 200 || g < 200 || b < 200)
        .count();
    assert!(
        ink * 100 > all.len(),
        "the screenshot is blank: {ink} of {} pixels are not white",
        all.len()
    );
    // The retaining line's highlight (#ffd7d7) and the chart's allocated line (#d62728) are
    // drawn: the CSS and the inline SVG rendered, not only text.
    let near = |c: (u8, u8, u8), t: (u8, u8, u8)| {
        c.0.abs_diff(t.0) < 12 && c.1.abs_diff(t.1) < 12 && c.2.abs_diff(t.2) < 12
    };
    assert!(
        all.iter().any(|&c| near(c, (0xff, 0xd7, 0xd7))),
        "no highlighted line"
    );
    assert!(
        all.iter().any(|&c| near(c, (0xd6, 0x27, 0x28))),
        "no timeline"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn url(path: &Path) -> String {
    format!("file://{}", std::fs::canonicalize(path).unwrap().display())
}
