//! Range checks for `[params]`: each model's `Validate` impl calls these, so every
//! message says the same thing the same way.

/// A parameter outside what the model allows: its key (relative to `[params]`) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub key: String,
    pub problem: String,
}

/// Implemented by every model's parameter struct.
pub trait Validate {
    fn validate(&self) -> Result<(), Invalid>;
}

fn invalid(key: &str, problem: String) -> Invalid {
    Invalid {
        key: key.to_string(),
        problem,
    }
}

/// A probability: finite and in [0, 1].
pub fn probability(key: &str, v: f64) -> Result<(), Invalid> {
    in_range(key, v, 0.0, 1.0)
}

/// A finite number in [lo, hi].
pub fn in_range(key: &str, v: f64, lo: f64, hi: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(invalid(key, format!("must be between {lo} and {hi}, got {v}")))
    }
}

/// A finite number ≥ 0.
pub fn non_negative(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(key, format!("must be a number ≥ 0, got {v}")))
    }
}

/// A finite number (any sign).
pub fn finite(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, format!("must be a finite number, got {v}")))
    }
}

/// An integer in [lo, hi].
pub fn count(key: &str, v: usize, lo: usize, hi: usize) -> Result<(), Invalid> {
    if v >= lo && v <= hi {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("must be a whole number from {lo} to {hi}, got {v}"),
        ))
    }
}

/// A list that is not empty and has no more than `max` entries.
pub fn list_len<T>(key: &str, v: &[T], min: usize, max: usize) -> Result<(), Invalid> {
    if v.len() >= min && v.len() <= max {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("must list {min} to {max} entries, got {}", v.len()),
        ))
    }
}

/// Every entry of a list passes `check` (the key names the index on failure).
pub fn each<T>(key: &str, v: &[T], check: impl Fn(&str, &T) -> Result<(), Invalid>) -> Result<(), Invalid> {
    for (i, item) in v.iter().enumerate() {
        check(&format!("{key}[{i}]"), item)?;
    }
    Ok(())
}

/// A list sorted strictly increasing (grids along an axis).
pub fn increasing(key: &str, v: &[f64]) -> Result<(), Invalid> {
    if v.windows(2).all(|w| w[0] < w[1]) {
        Ok(())
    } else {
        Err(invalid(key, "must be strictly increasing".to_string()))
    }
}

/// Names that are unique and non-empty (arms, scales).
pub fn unique_names<'a>(key: &str, names: impl IntoIterator<Item = &'a str>) -> Result<(), Invalid> {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if n.is_empty() || seen.contains(&n) {
            return Err(invalid(
                key,
                format!("names must be non-empty and unique, `{n}` is not"),
            ));
        }
        seen.push(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_rejects_out_of_range_and_nan() {
        assert!(probability("p", 0.0).is_ok());
        assert!(probability("p", 1.0).is_ok());
        assert_eq!(probability("p", 1.5).unwrap_err().key, "p");
        assert!(probability("p", f64::NAN).is_err());
        assert!(probability("p", -0.1).is_err());
    }

    #[test]
    fn count_and_lists() {
        assert!(count("n", 0, 1, 10).is_err());
        assert!(count("n", 5, 1, 10).is_ok());
        assert!(increasing("g", &[0.0, 0.5, 0.4]).is_err());
        assert!(unique_names("a", ["x", "y", "x"]).is_err());
        assert_eq!(
            each("g", &[0.5, 2.0], |k, v| probability(k, *v)).unwrap_err().key,
            "g[1]"
        );
    }
}
