//! Reductions in a fixed order: mean and a 95% interval for the mean.

/// A mean with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Two-sided 97.5% quantiles of Student's t for 1..=30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// Quantile of Student's t used for the interval: tabulated up to 30 degrees of
/// freedom, the normal 1.96 beyond (the replicate counts here are in the hundreds).
fn t_quantile(df: usize) -> f64 {
    if df == 0 {
        0.0
    } else if df <= 30 {
        T_975[df - 1]
    } else {
        1.96
    }
}

/// Mean and 95% t-interval of `sample`, summed left to right. One value gives a
/// zero-width interval (an exact or analytic value).
pub fn mean_ci(sample: &[f64]) -> Interval {
    let n = sample.len();
    if n == 0 {
        return Interval {
            mean: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let mut sum = 0.0;
    for v in sample {
        sum += v;
    }
    let mean = sum / n as f64;
    if n == 1 {
        return Interval {
            mean,
            lo: mean,
            hi: mean,
        };
    }
    let mut ss = 0.0;
    for v in sample {
        ss += (v - mean) * (v - mean);
    }
    let sd = libm::sqrt(ss / (n - 1) as f64);
    let half = t_quantile(n - 1) * sd / libm::sqrt(n as f64);
    Interval {
        mean,
        lo: mean - half,
        hi: mean + half,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ci_of_known_sample() {
        let ci = mean_ci(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ci.mean, 2.5);
        // sd = 1.2910, se = 0.6455, t(3) = 3.182
        assert!((ci.hi - 2.5 - 3.182 * 0.645_497).abs() < 1e-5);
        assert_eq!(
            mean_ci(&[0.7]),
            Interval {
                mean: 0.7,
                lo: 0.7,
                hi: 0.7
            }
        );
    }

    #[test]
    fn constant_sample_has_zero_width() {
        let ci = mean_ci(&[0.25; 100]);
        assert_eq!((ci.lo, ci.hi), (0.25, 0.25));
    }
}
