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
    run_rounds(p, &Extrapolation::new(p), filter, None, false, rep)
}

/// How one label came out, drawn the long way: one answer per voter (the mechanism the
/// simulation's [`Odds`] summarise).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Label {
    Dropped,
    Right,
    Wrong,
}

fn draw_label(p: &Params, filter: Filter, rng: &mut Stream, acc: f64) -> Label {
    let ell = p.length_error_share;
    if let Some(vote) = Vote::of(p, filter) {
        if rng.uniform() < vote.correlation {
            // A problem the answers handle alike: they all agree.
            if rng.uniform() < acc {
                return Label::Right;
            }
            let wrong_length = rng.uniform() < ell;
            return if vote.length_check && wrong_length {
                Label::Dropped
            } else {
                Label::Wrong
            };
        }
        // Independent errors: wrong answers never coincide, so only the right one can win.
        let right = (0..vote.answers).filter(|_| rng.uniform() < acc).count();
        return if right >= vote.needed {
            Label::Right
        } else {
            Label::Dropped
        };
    }
    let right = rng.uniform() < acc;
    match filter {
        Filter::Oracle if !right => Label::Dropped,
        Filter::Length if !right && rng.uniform() < ell => Label::Dropped,
        _ if right => Label::Right,
        _ => Label::Wrong,
    }
}

#[test]
fn binomial_tail_sums_to_one_and_matches_small_cases() {
    assert!((binomial_tail(5, 0, 0.3) - 1.0).abs() < 1e-12);
    assert!((binomial_tail(2, 2, 0.6) - 0.36).abs() < 1e-12);
    // P(Bin(5, 0.5) ≥ 4) = 6/32.
    assert!((binomial_tail(5, 4, 0.5) - 6.0 / 32.0).abs() < 1e-12);
}

#[test]
fn the_odds_are_those_of_the_per_answer_mechanism() {
    let p = params(&[]);
    let mut rng = Stream::new(1, "t", 0, "t");
    let n = 40_000;
    let filters = [
        Filter::None,
        Filter::Length,
        Filter::Oracle,
        Filter::SelfConsistency,
        majority_vote(0.0),
        majority_vote(0.3),
        Filter::MajorityVote {
            correlation: 0.9,
            length_check: false,
        },
    ];
    for filter in filters {
        for acc in [0.5, 0.8, 0.97] {
            let (mut right, mut wrong) = (0, 0);
            for _ in 0..n {
                match draw_label(&p, filter, &mut rng, acc) {
                    Label::Dropped => {}
                    Label::Right => right += 1,
                    Label::Wrong => wrong += 1,
                }
            }
            let odds = Filtering::of(&p, filter).odds(acc);
            let expected_wrong = odds.kept - odds.right;
            let (r, w) = (right as f64 / n as f64, wrong as f64 / n as f64);
            assert!((r - odds.right).abs() < 0.01, "{filter:?} {acc}: {r} vs {}", odds.right);
            assert!(
                (w - expected_wrong).abs() < 0.01,
                "{filter:?} {acc}: {w} vs {expected_wrong}"
            );
            if let Some(vote) = Vote::of(&p, filter) {
                let closed = vote.kept_share(acc, p.length_error_share);
                assert!((odds.right + expected_wrong - closed).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn a_round_keeps_labels_with_the_odds_of_each_length() {
    // Many labels at one length: kept and wrong shares match the odds, both when almost
    // every label is right (drawn the rare way) and when outcomes mix (drawn in lanes),
    // with and without injected noise.
    let p = params(&[("problems_per_length", 50_000.0), ("window", 1.0)]);
    let table = Extrapolation::new(&p);
    let clean = Learner::new(&p);
    let mut noisy = Learner::new(&p);
    noisy.wrong_digits = 0.1 * noisy.digits; // rule error 0.05: accuracy 0.57 at 11 digits
    let filters = [
        Filter::None,
        Filter::Length,
        Filter::Oracle,
        majority_vote(0.3),
        Filter::SelfConsistency,
    ];
    for (learner, fraction) in [(&clean, None), (&noisy, None), (&noisy, Some(0.2))] {
        for filter in filters {
            let mut row = Row::new(&p);
            row.reset(&p, learner);
            let mut round = Round::default();
            let (mut a, mut b) = (Stream::new(3, "t", 0, "labels"), Stream::new(3, "t", 0, "inject"));
            let injection = fraction.map(|fraction| Injection { round: 1, fraction });
            let filtering = Filtering::of(&p, filter);
            label_round(
                &p, learner, &mut row, &table, &filtering, injection, &mut a, &mut b, &mut round,
            );
            let odds = filtering.odds(learner.accuracy(&p, round.first));
            let kept = round.at[0].kept as f64 / 50_000.0;
            let wrong = round.at[0].wrong as f64 / 50_000.0;
            let f = fraction.unwrap_or(0.0);
            // A corrupted right label is wrong too.
            let expected_wrong = odds.kept - odds.right + f * odds.right;
            assert!((kept - odds.kept).abs() < 0.01, "{filter:?}: {kept} vs {}", odds.kept);
            assert!(
                (wrong - expected_wrong).abs() < 0.01,
                "{filter:?}: {wrong} vs {expected_wrong}"
            );
        }
    }
}

#[test]
fn the_accuracy_row_is_the_formula() {
    // The running product (1 − r)^L agrees with `pow` to rounding, at every length.
    let p = params(&[]);
    let table = Extrapolation::new(&p);
    let mut learner = Learner::new(&p);
    learner.wrong_digits = 0.01 * learner.digits;
    learner.taught[p.initial_span] = 40.0;
    learner.taught_wrong[p.initial_span] = 3.0;
    learner.span = 23;
    let mut row = Row::new(&p);
    row.reset(&p, &learner);
    row.fill(&p, &learner, &table, p.max_length);
    for len in 1..=p.max_length {
        let (fast, formula) = (row.accuracies()[len - 1], learner.accuracy(&p, len));
        assert!(
            (fast - formula).abs() <= 1e-13 * formula.max(1e-300),
            "{len}: {fast} vs {formula}"
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

#[test]
fn the_popcnt_copy_draws_the_same_rounds_as_the_portable_code() {
    // label_round takes the POPCNT copy where the processor has it; Draws::run is the
    // portable code. Same draws, same counts, same digit sums, round after round.
    let p = params(&[]);
    let table = Extrapolation::new(&p);
    for filter in [
        Filter::None,
        Filter::Length,
        Filter::SelfConsistency,
        majority_vote(0.02),
        Filter::Oracle,
    ] {
        let filtering = Filtering::of(&p, filter);
        let mut learner = Learner::new(&p);
        let mut row = Row::new(&p);
        let (mut rng, mut inject_rng) = (
            Stream::new(9, "popcnt", 0, "labels"),
            Stream::new(9, "popcnt", 0, "inject"),
        );
        let (mut rng2, mut inject_rng2) = (
            Stream::new(9, "popcnt", 0, "labels"),
            Stream::new(9, "popcnt", 0, "inject"),
        );
        for round in 0..20 {
            let injection = (round == 5).then_some(Injection {
                round: 6,
                fraction: 0.3,
            });
            row.reset(&p, &learner);
            let mut a = Round::default();
            label_round(
                &p,
                &learner,
                &mut row,
                &table,
                &filtering,
                injection,
                &mut rng,
                &mut inject_rng,
                &mut a,
            );
            let mut b = Round {
                first: a.first,
                at: vec![KeptAt::default(); a.at.len()],
                ..Round::default()
            };
            let draws = Draws {
                p: &p,
                row: &row,
                span: learner.span,
                filtering: &filtering,
                injection,
            };
            draws.run(&mut rng2, &mut inject_rng2, &mut b);
            let counts = |r: &Round| r.at.iter().map(|x| (x.kept, x.wrong)).collect::<Vec<_>>();
            assert_eq!(counts(&a), counts(&b));
            assert_eq!((a.kept, a.kept_wrong, a.labelled), (b.kept, b.kept_wrong, b.labelled));
            assert_eq!(a.kept_digits.to_bits(), b.kept_digits.to_bits());
            assert_eq!(a.kept_wrong_digits.to_bits(), b.kept_wrong_digits.to_bits());
            learner.retrain(&p, &a);
        }
        assert_eq!(rng.next_u64(), rng2.next_u64());
        assert_eq!(inject_rng.next_u64(), inject_rng2.next_u64());
    }
}
