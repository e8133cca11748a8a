use super::model::*;
use super::*;
use crate::rng::Stream;

/// The committed spec's parameters, with `overrides` applied.
fn params(overrides: &[(&str, f64)]) -> Params {
    let spec: toml::Table = toml::from_str(include_str!("../../../specs/self_improvement.toml")).unwrap();
    let mut table = spec["params"].as_table().unwrap().clone();
    for (k, v) in overrides {
        let value = if table[*k].is_integer() {
            toml::Value::Integer(*v as i64)
        } else {
            toml::Value::Float(*v)
        };
        table.insert(k.to_string(), value);
    }
    // Short runs keep one accuracy curve and measure gains every round.
    table.insert(
        "accuracy_rounds".into(),
        toml::Value::Array(vec![toml::Value::Integer(0)]),
    );
    table.insert("gain_every".into(), toml::Value::Integer(1));
    let p: Params = toml::Value::Table(table).try_into().unwrap();
    p.validate().unwrap();
    p
}

fn run(p: &Params, filter: Filter, replicate: u64) -> Trajectory {
    let rep = crate::sim::Replicate {
        seed: 7,
        condition: "test",
        index: replicate,
    };
    run_rounds(p, filter, None, rep)
}

#[test]
fn binomial_tail_sums_to_one_and_matches_small_cases() {
    assert!((binomial_tail(5, 0, 0.3) - 1.0).abs() < 1e-12);
    assert!((binomial_tail(2, 2, 0.6) - 0.36).abs() < 1e-12);
    // P(Bin(5, 0.5) ≥ 4) = 6/32.
    assert!((binomial_tail(5, 4, 0.5) - 6.0 / 32.0).abs() < 1e-12);
}

#[test]
fn vote_draws_match_their_closed_form() {
    let mut rng = Stream::new(1, "t", 0, "t");
    let n = 40_000;
    for (correlation, acc) in [(0.0, 0.8), (0.3, 0.7), (0.9, 0.5)] {
        let vote = Vote {
            answers: 5,
            needed: 4,
            correlation,
            length_check: true,
        };
        let (mut kept, mut wrong) = (0, 0);
        for _ in 0..n {
            match vote.draw(&mut rng, acc, 0.3) {
                Label::Dropped => {}
                Label::Right => kept += 1,
                Label::Wrong => {
                    kept += 1;
                    wrong += 1
                }
            }
        }
        let share = kept as f64 / n as f64;
        let expected = vote.kept_share(acc, 0.3);
        assert!((share - expected).abs() < 0.01, "{correlation}: {share} vs {expected}");
        // Only problems the voters handle alike can pass a wrong label.
        let wrong_share = wrong as f64 / n as f64;
        let expected_wrong = correlation * (1.0 - acc) * 0.7;
        assert!(
            (wrong_share - expected_wrong).abs() < 0.01,
            "{wrong_share} vs {expected_wrong}"
        );
    }
}

#[test]
fn wrong_labels_teach_wrong_and_right_labels_do_not() {
    let p = params(&[]);
    let clean = Learner::new(&p);
    let len = p.initial_span + 1;
    let round = |wrong: usize| Round {
        first: len,
        at: vec![KeptAt { kept: 64, wrong }],
        labelled: 64,
        kept: 64,
        kept_wrong: wrong,
        kept_digits: (64 * len) as f64,
        kept_wrong_digits: wrong as f64,
    };
    let mut right = clean.clone();
    right.retrain(&p, &round(0));
    let mut wrong = clean.clone();
    wrong.retrain(&p, &round(16));
    assert_eq!(right.rule_error(&p), p.base_digit_error);
    assert_eq!(right.length_error(&p, len), 0.0);
    assert!(
        right.accuracy(&p, len) > clean.accuracy(&p, len),
        "right labels teach the length"
    );
    // A quarter of the labels wrong: the length keeps (1 − s) of it, the rule the rest.
    let expected = (1.0 - p.rule_share) * 0.25;
    assert!((wrong.length_error(&p, len) - expected).abs() < 1e-12);
    assert!(wrong.rule_error(&p) > p.base_digit_error);
    assert!(wrong.accuracy(&p, p.anchor_length) < right.accuracy(&p, p.anchor_length));
    // With imitation 0 (the knock-out) the same wrong labels teach nothing wrong.
    let q = params(&[("imitation", 0.0)]);
    let mut ko = Learner::new(&q);
    ko.retrain(&q, &round(16));
    assert_eq!(ko.length_error(&q, len), 0.0);
    assert_eq!(ko.rule_error(&q), q.base_digit_error);
}

#[test]
fn the_reach_is_a_fixed_number_of_digits_past_the_span() {
    let p = params(&[]);
    let mut learner = Learner::new(&p);
    let at = |l: &Learner, d: usize| l.extrapolation(&p, l.span + d);
    let near = at(&learner, p.reach as usize);
    learner.span += 50;
    assert!((at(&learner, p.reach as usize) - near).abs() < 1e-15);
    assert!((near - p.extrapolation_max / 2.0).abs() < 1e-12);
}

#[test]
fn without_a_filter_the_learner_avalanches_unless_wrong_labels_teach_nothing() {
    let p = params(&[("rounds", 12.0)]);
    let t = run(&p, Filter::None, 0);
    assert!(avalanched(&p, &t), "{:?}", t.anchor_accuracy);
    assert!(t.final_frontier() < p.initial_span as f64);
    let q = params(&[("rounds", 12.0), ("imitation", 0.0)]);
    let t = run(&q, Filter::None, 0);
    assert!(!avalanched(&q, &t));
    assert!(t.final_frontier() > 50.0, "{:?}", t.frontier);
}

#[test]
fn majority_vote_extends_only_while_its_voters_disagree_in_their_errors() {
    let p = params(&[("rounds", 20.0)]);
    let weak = run(&p, majority_vote(0.01), 0);
    let strong = run(&p, majority_vote(0.3), 0);
    assert!(weak.final_frontier() > 40.0, "{:?}", weak.frontier);
    assert!(strong.final_frontier() < p.initial_span as f64, "{:?}", strong.frontier);
    // The oracle keeps nothing wrong: its rule never learns an error.
    let oracle = run(&p, Filter::Oracle, 0);
    assert!(oracle.rule_error.iter().all(|&r| r == p.base_digit_error));
}
