use super::model::*;
use super::*;
use crate::rng::Stream;

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
