//! The reproduction report (`mismatch report`, `mismatch verify --report`): the same
//! bytes twice, self-contained, the differing files named after tampering, and the
//! page as a real browser shows it (headless Chromium: every image loaded, the claims
//! tables of all five figures, no console message, screenshots at desktop and phone
//! width). Outside CI the browser test skips, saying so, when Chromium is missing; with
//! CI=true it fails (`.ci/run` installs Debian's `chromium`).

mod common;

use common::{copy_tree, mismatch, scratch, tree, FIGURES};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Builds the report of the committed figures into `out`.
fn report(out: &Path) {
    let o = mismatch(&["report", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The values of every `attr="…"` in the page.
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!("{attr}=\"");
    html.match_indices(&key)
        .filter_map(|(at, _)| html[at + key.len()..].split('"').next())
        .collect()
}

#[test]
fn the_report_is_the_same_bytes_twice_and_links_only_its_own_files() {
    let dir = scratch("twice");
    let (a, b) = (dir.join("a"), dir.join("b"));
    report(&a);
    report(&b);
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(ta.len(), tb.len());
    for ((pa, ba), (pb, bb)) in ta.iter().zip(&tb) {
        assert_eq!(pa, pb);
        assert!(ba == bb, "{pa} differs between two builds");
    }
    let html = std::fs::read_to_string(a.join("index.html")).unwrap();
    assert!(!html.contains("<script"), "the page must work without JavaScript");
    for link in attributes(&html, "href").into_iter().chain(attributes(&html, "src")) {
        assert!(!link.contains("://"), "a link leaves the folder: {link}");
        if let Some(file) = link.split('#').next().filter(|f| !f.is_empty()) {
            assert!(a.join(file).is_file(), "{file} is linked but not in the report");
        }
    }
    for id in FIGURES {
        assert!(
            html.contains(&format!("<section class=\"figure\" id=\"{id}\">")),
            "{id}"
        );
    }
}

/// Inverts a block of pixels of a PNG (any 8-bit colour type) and re-encodes it.
fn tamper_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    for y in 100..120 {
        for x in 200..240 {
            let i = channels * (y * info.width as usize + x);
            for c in 0..channels.min(3) {
                buf[i + c] = 255 - buf[i + c];
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, info.width, info.height);
    encoder.set_color(info.color_type);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&buf[..info.buffer_size()]).unwrap();
    writer.finish().unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn verify_report_shows_the_files_a_tampered_copy_changed() {
    let dir = scratch("tampered");
    let (copy, out) = (dir.join("figures"), dir.join("report"));
    copy_tree(Path::new("figures"), &copy);
    tamper_png(&copy.join("calibration.png"));
    let csv = copy.join("data/proxy_reward.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    // The row's mean, whatever the committed value, raised by 0.1.
    let prefix = "ground_truth,300.000000,test_accuracy,";
    let start = text
        .find(prefix)
        .expect("the table has ground_truth's final test accuracy")
        + prefix.len();
    let end = start + text[start..].find(',').unwrap();
    let committed = text[start..end].to_string();
    let edited = format!("{:.6}", committed.parse::<f64>().unwrap() + 0.1);
    std::fs::write(&csv, format!("{}{edited}{}", &text[..start], &text[end..])).unwrap();

    let o = mismatch(&[
        "verify",
        "--figures",
        copy.to_str().unwrap(),
        "--report",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let differences = html.split("id=\"differences\"").nth(1).expect("a differences section");
    let differences = differences.split("<nav>").next().unwrap();
    assert!(differences.contains("2 of "), "{differences}");
    for named in [
        "calibration.png",
        "data/proxy_reward.csv",
        "arm=ground_truth metric=test_accuracy x=300.000000",
        edited.as_str(),
        committed.as_str(),
    ] {
        assert!(differences.contains(named), "the differences do not name {named}");
    }
    assert!(
        differences.contains("800 of "),
        "the 40 × 20 inverted pixels are counted: {differences}"
    );
    for kind in ["committed", "rebuilt", "difference"] {
        let path = out.join(format!("diff/calibration.png.{kind}.png"));
        let bytes = std::fs::read(&path).unwrap_or_else(|_| panic!("{} missing", path.display()));
        png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    }
    assert!(
        html.contains("3 of 5</div><p>figures reproduced"),
        "the summary counts the two tampered figures"
    );
}

/// Debian's Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("chromium"))
            .find(|p| p.is_file())
    })
}

/// Runs headless Chromium with a fresh profile; kills it after 60 s.
fn headless(browser: &Path, profile: &Path, args: &[&str]) -> (String, String) {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A page beside the report that loads it in a frame and writes what it finds into
/// its own DOM (`--dump-dom` prints it): one line per image with its natural size, one
/// per figure with the rows of its claims table. The report itself has no script.
const PROBE: &str = r#"<!DOCTYPE html><html><body>
<iframe id="report" src="report/index.html" style="width:1280px;height:900px"></iframe>
<script>
document.getElementById("report").addEventListener("load", function () {
  var d = this.contentDocument, out = [];
  if (!d) { out.push("no-access"); }
  else {
    Array.prototype.forEach.call(d.images, function (i) {
      out.push("image " + i.getAttribute("src") + " " + (i.complete ? "complete" : "pending") + " " + i.naturalWidth + " " + i.naturalHeight);
    });
    Array.prototype.forEach.call(d.querySelectorAll("section.figure"), function (s) {
      out.push("claims " + s.id + " " + s.querySelectorAll("table.claims tbody tr").length);
    });
  }
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = out.join("\n");
  document.body.appendChild(pre);
});
</script></body></html>"#;

/// The probe's lines from the dumped DOM.
fn probe_lines(dom: &str) -> Vec<String> {
    let start = dom
        .find("<pre id=\"probe\">")
        .expect("the probe wrote no result: the frame did not load");
    let body = &dom[start + "<pre id=\"probe\">".len()..];
    body.split("</pre>")
        .next()
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Width and height of a PNG.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|_| panic!("no screenshot at {}", path.display()));
    let info = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap()
        .info()
        .clone();
    (info.width, info.height)
}

#[test]
fn the_page_loads_in_chromium_with_every_image_and_every_claims_table() {
    let Some(browser) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but Chromium is missing: install Debian's `chromium` (.ci/run does)");
        }
        eprintln!("skipped: no Chromium (/usr/bin/chromium); install it with `apt-get install chromium`");
        return;
    };
    let started = Instant::now();
    let dir = scratch("browser");
    report(&dir.join("report"));
    std::fs::write(dir.join("probe.html"), PROBE).unwrap();
    let url = |rel: &str| format!("file://{}", dir.join(rel).display());

    let (dom, log) = headless(
        &browser,
        &dir.join("profile-probe"),
        &["--allow-file-access-from-files", "--dump-dom", &url("probe.html")],
    );
    let lines = probe_lines(&dom);
    let images: Vec<&String> = lines.iter().filter(|l| l.starts_with("image ")).collect();
    assert_eq!(
        images.len(),
        2 * FIGURES.len(),
        "a figure and a map per figure: {lines:?}"
    );
    for line in &images {
        let f: Vec<&str> = line.split(' ').collect();
        assert!(f[2] == "complete" && f[3] != "0" && f[4] != "0", "not loaded: {line}");
    }
    for id in FIGURES {
        let rows = lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("claims {id} ")))
            .unwrap_or_else(|| panic!("no section for {id}: {lines:?}"));
        assert!(rows.parse::<u32>().unwrap() >= 5, "{id}: {rows} claims rows");
    }
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");

    for (name, width, height) in [("desktop", 1280, 2400), ("phone", 390, 2400)] {
        let shot = dir.join(format!("{name}.png"));
        let (_, log) = headless(
            &browser,
            &dir.join(format!("profile-{name}")),
            &[
                &format!("--window-size={width},{height}"),
                &format!("--screenshot={}", shot.display()),
                &url("report/index.html"),
            ],
        );
        assert_eq!(png_size(&shot), (width, height), "{name}");
        assert!(!log.contains(":CONSOLE"), "{name}: {log}");
        eprintln!("screenshot: {}", shot.display());
    }
    eprintln!("browser test: {:.1} s", started.elapsed().as_secs_f64());
}
