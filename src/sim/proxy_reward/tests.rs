use super::model::*;
use super::*;
use crate::rng::Stream;

#[test]
fn correlation_of_identical_and_constant_rewards() {
    let same = CoSums {
        n: 4.0,
        p: 2.0,
        t: 2.0,
        pt: 2.0,
    };
    assert!((same.correlation() - 1.0).abs() < 1e-12);
    let opposite = CoSums {
        n: 4.0,
        p: 2.0,
        t: 2.0,
        pt: 0.0,
    };
    assert!((opposite.correlation() + 1.0).abs() < 1e-12);
    let constant = CoSums {
        n: 4.0,
        p: 4.0,
        t: 1.0,
        pt: 1.0,
    };
    assert_eq!(constant.correlation(), 0.0);
}

#[test]
fn plurality_picks_the_top_count_and_breaks_ties_among_the_tied() {
    let mut rng = Stream::new(1, "t", 0, "p");
    assert_eq!(plurality(&[1, 3, 0, 2], &mut rng), 1);
    for _ in 0..50 {
        let a = plurality(&[2, 0, 2, 1], &mut rng);
        assert!(a == 0 || a == 2);
    }
}

#[test]
fn lucky_hits_count_as_reward_agreement() {
    // Plurality wrong (answer 2, 3 samples), 1 right sample, 4 other wrong samples:
    // 4 samples get proxy 0 = truth 0.
    let mut t = StepTally::default();
    tally_problem(&mut t, &[1, 2, 3, 2], 2, 8);
    assert_eq!(t.reward_agree, 4.0);
    assert_eq!(t.label_right, 0.0);
}
