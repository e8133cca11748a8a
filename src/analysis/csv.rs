//! The summary table as CSV: fixed column order, fixed number format (DESIGN.md §2.7).
//! Numbers are written with 6 decimals (`{:.6}`), which Rust formats exactly and
//! identically on every platform; `n` as an integer.

use polars::prelude::*;

pub fn write(df: &DataFrame) -> PolarsResult<String> {
    let arm = df.column("arm")?.str()?;
    let metric = df.column("metric")?.str()?;
    let floats = |name: &str| -> PolarsResult<Vec<f64>> { Ok(df.column(name)?.f64()?.into_no_null_iter().collect()) };
    let (x, mean, lo, hi) = (floats("x")?, floats("mean")?, floats("lo")?, floats("hi")?);
    let n: Vec<u32> = df.column("n")?.u32()?.into_no_null_iter().collect();
    let mut out = String::from("arm,x,metric,mean,lo,hi,n\n");
    for i in 0..df.height() {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            arm.get(i).unwrap_or(""),
            number(x[i]),
            metric.get(i).unwrap_or(""),
            number(mean[i]),
            number(lo[i]),
            number(hi[i]),
            n[i]
        ));
    }
    Ok(out)
}

/// Six decimals, with negative zero written as zero so the text does not depend on
/// the sign of a zero that arose from rounding.
pub fn number(v: f64) -> String {
    let s = format!("{v:.6}");
    if s == "-0.000000" {
        "0.000000".to_string()
    } else {
        s
    }
}
