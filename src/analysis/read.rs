//! The summary table read back from its CSV (`figures/data/ID.csv`), so a claim can be
//! judged on the committed numbers without rerunning the simulation (`mismatch report`).
//! The CSV holds six decimals: a claim within 10⁻⁶ of its bound may judge otherwise than
//! on the unrounded summary.

use super::{pl, Summary};
use crate::error::{Error, Result};
use polars::prelude::*;

/// The summary columns in CSV order.
const HEADER: &str = "arm,x,metric,mean,lo,hi,n";

impl Summary {
    /// Parses summary CSV text. The CSV does not record which rows are outcomes (shares
    /// of replicates); `outcomes` names the `(arm, metric)` keys that are.
    pub fn from_csv(text: &str, outcomes: &[(String, String)]) -> Result<Summary> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(Error::Input(format!(
                "summary table: the first line is not `{HEADER}`. Fix: give a figures/data/ID.csv that `mismatch run` wrote"
            )));
        }
        let (mut arm, mut metric, mut n) = (Vec::new(), Vec::new(), Vec::new());
        let (mut x, mut mean, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            let bad = || Error::Input(format!("summary table: line {} `{line}` is not 7 values", i + 2));
            if cells.len() != 7 {
                return Err(bad());
            }
            let float = |k: usize| cells[k].parse::<f64>().map_err(|_| bad());
            arm.push(cells[0].to_string());
            x.push(float(1)?);
            metric.push(cells[2].to_string());
            mean.push(float(3)?);
            lo.push(float(4)?);
            hi.push(float(5)?);
            n.push(cells[6].parse::<u32>().map_err(|_| bad())?);
        }
        let columns = vec![
            Column::new("arm".into(), arm),
            Column::new("x".into(), x),
            Column::new("metric".into(), metric),
            Column::new("mean".into(), mean),
            Column::new("lo".into(), lo),
            Column::new("hi".into(), hi),
            Column::new("n".into(), n),
        ];
        let df = DataFrame::new(columns[0].len(), columns).map_err(pl)?;
        let mut outcomes = outcomes.to_vec();
        outcomes.sort();
        outcomes.dedup();
        Ok(Summary { df, outcomes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_read_back_writes_the_same_csv() {
        let text = "arm,x,metric,mean,lo,hi,n\na,1.000000,acc,0.500000,0.400000,0.600000,8\nb,0.000000,acc,-0.250000,-0.300000,-0.200000,8\n";
        let summary = Summary::from_csv(text, &[]).unwrap();
        assert_eq!(summary.to_csv().unwrap(), text);
        assert_eq!(summary.series("b", "acc").unwrap()[0].mean, -0.25);
        assert!(Summary::from_csv("arm,x\n", &[]).is_err());
        assert!(Summary::from_csv(&text.replace("0.500000", "half"), &[]).is_err());
    }
}
