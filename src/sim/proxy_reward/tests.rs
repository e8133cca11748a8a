use super::model::*;
use super::*;
use crate::rng::{Stream, Words};

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
    assert_eq!(plurality(&[1, 3, 0, 2], 0), 1);
    assert_eq!(plurality(&[1, 3, 0, 2], u32::MAX), 1);
    // Two tied (answers 0 and 2): the tie uniform's lower half picks the first.
    assert_eq!(plurality(&[2, 0, 2, 1], 0), 0);
    assert_eq!(plurality(&[2, 0, 2, 1], (1 << 31) - 1), 0);
    assert_eq!(plurality(&[2, 0, 2, 1], 1 << 31), 2);
    assert_eq!(plurality(&[2, 0, 2, 1], u32::MAX), 2);
}

#[test]
fn lucky_hits_count_as_reward_agreement() {
    // Plurality wrong (3 samples), 1 right sample, 4 other wrong samples: 4 samples get
    // proxy 0 = truth 0.
    let mut t = StepTally::default();
    t.problem(3, 1, false, 8);
    assert_eq!(t.reward_agree, 4);
    assert_eq!(t.label_right, 0);
    t.problem(5, 5, true, 8);
    assert_eq!(t.reward_agree, 12);
    assert_eq!((t.label_right, t.pt), (1, 5));
}

/// A small instance of the spec's parameters (the committed values, fewer problems).
fn small() -> Params {
    Params {
        problems: 32,
        test_problems: 32,
        wrong_answers: 6,
        samples: 8,
        steps: 150,
        record_every: 5,
        ease_mean: 1.0,
        ease_sd: 1.5,
        reach_contrast: 1.0,
        wrong_sd: 0.6,
        template_logit: 1.4,
        lr_problem: 0.02,
        lr_skill: 0.5,
        lr_template: 0.5,
        validation_problems: 32,
        validation_samples: 16,
        eval_every: 10,
        patience: 3,
        tolerance: 0.05,
        teacher_samples: 16,
        teacher_refresh: 0,
        correlation_window: 20,
        collapse_template: 0.5,
        rise: 0.05,
        align_window: 50,
        scan_template_logits: vec![0.0, 2.0],
    }
}

/// Final held-out (accuracy, template rate) of `n` runs of `arm`.
fn final_test(p: &Params, arm: Arm, n: usize) -> Vec<(f64, f64)> {
    let runner = crate::sim::Runner::new(11, n as u32, None);
    let runs = runner.replicates("runs", n, |rep| {
        let problems = Problems::draw(p, &rep);
        let trace = train(p, arm, &problems, &rep);
        (
            *trace.values[TEST_ACCURACY].last().unwrap(),
            *trace.values[TEST_TEMPLATE].last().unwrap(),
        )
    });
    runs.iter().map(|(_, r)| *r).collect()
}

#[test]
fn self_consistency_collapses_and_the_shared_channel_knock_out_removes_it() {
    let p = small();
    let (mut collapsed, mut kept) = (0, 0);
    let no_channel = Params {
        lr_template: 0.0,
        ..small()
    };
    for (_, template) in final_test(&p, Arm::SelfConsistency, 6) {
        collapsed += usize::from(template >= 0.5);
    }
    for (acc, template) in final_test(&no_channel, Arm::SelfConsistency, 6) {
        // Without the channel the held-out template rate cannot move at all (b = 0).
        assert!(template < 0.25, "template rate {template} without a shared channel");
        kept += usize::from(acc > 0.4);
    }
    assert!(collapsed >= 4, "only {collapsed} of 6 runs collapsed");
    assert_eq!(kept, 6);
}

#[test]
fn ground_truth_never_rewards_the_template() {
    // Template sampled 5 times, right answer once, G = 8: under ground truth (target 0)
    // the template's gradient is negative, the skill's positive.
    let counts = [1, 1, 0, 0, 1, 0, 0, 5];
    let j = |target: usize| -> Vec<i32> {
        let c_target = counts[target];
        (0..8)
            .map(|a| reinforce_j(counts[a], a == target, c_target, 8))
            .collect()
    };
    let truth = j(0);
    assert!(truth[0] > 0 && truth[7] < 0);
    // Under self-consistency the same samples reward the template (it is the plurality).
    let sc = j(7);
    assert!(sc[0] < 0 && sc[7] > 0);
    // The advantages of a group sum to zero.
    assert_eq!(truth.iter().sum::<i32>(), 0);
    assert_eq!(sc.iter().sum::<i32>(), 0);
}

#[test]
fn sampled_counts_follow_the_weights() {
    let mut rng = Words::new(3, "t", 0, "counts");
    let weights = [1.0, 3.0, 0.0, 4.0];
    let mut counts = [0u32; 4];
    let mut totals = [0u64; 4];
    let mut uniforms = [0u32; 8];
    for _ in 0..2000 {
        fill_uniforms(&mut rng, &mut uniforms);
        count_draws(&weights, &uniforms, &mut counts);
        assert_eq!(counts.iter().sum::<u32>(), 8);
        for (t, c) in totals.iter_mut().zip(counts) {
            *t += u64::from(c);
        }
    }
    assert_eq!(totals[2], 0);
    for (t, w) in totals.iter().zip(weights) {
        let share = *t as f64 / 16_000.0;
        assert!((share - w / 8.0).abs() < 0.02, "share {share} against {}", w / 8.0);
    }
}

/// Problems of `small()` with a moved skill and bias, and a step's uniforms.
fn moved_policy(n: usize) -> (Drawn, Policy, Vec<u32>) {
    let p = Params { problems: n, ..small() };
    let drawn = Drawn::initial(&p, n, &mut Stream::new(5, "t", 0, "problems"));
    let mut policy = Policy::new(&drawn);
    // As training moves them: the template's cached weights follow the bias.
    policy.shared.skill = 1.3;
    policy.shared.template_bias = -0.4;
    policy.shift_template(-0.4);
    let mut uniforms = vec![0u32; n * (p.samples + 1)];
    fill_uniforms(&mut Words::new(5, "t", 0, "step"), &mut uniforms);
    (drawn, policy, uniforms)
}

#[test]
fn the_step_samples_like_the_scalar_reference() {
    // 37 problems: four chunks of 8 and a tail of 5.
    let (n, g) = (37, 8);
    let (drawn, mut policy, uniforms) = moved_policy(n);
    let (counts, plur) = sample_step(&mut policy, drawn.transfer(), g, &uniforms);
    let k = drawn.k;
    for i in 0..n {
        let p = policy.probabilities(i, drawn.transfer()[i]);
        let mine: Vec<u32> = (0..g).map(|gi| uniforms[gi * n + i]).collect();
        let mut reference = vec![0u32; k];
        count_draws(&p, &mine, &mut reference);
        let got: Vec<u32> = counts[i].iter().map(|&c| c as u32).collect();
        assert_eq!(got, reference, "problem {i}");
        assert_eq!(
            plur[i] as usize,
            plurality(&reference, uniforms[g * n + i]),
            "problem {i}"
        );
    }
}

#[test]
fn the_step_counts_exactly_where_a_threshold_passes_the_largest_uniform() {
    // A skill so large that the right answer's threshold is above 2³² − 1 on most
    // problems (every uniform is below it), and uniforms at the extremes.
    let (n, g) = (37, 8);
    let (drawn, mut policy, mut uniforms) = moved_policy(n);
    policy.shared.skill = 60.0;
    for (j, u) in uniforms.iter_mut().enumerate().step_by(3) {
        *u = if j % 2 == 0 { u32::MAX } else { 0 };
    }
    let (counts, _) = sample_step(&mut policy, drawn.transfer(), g, &uniforms);
    let k = drawn.k;
    let mut saturated = 0;
    for i in 0..n {
        let p = policy.probabilities(i, drawn.transfer()[i]);
        saturated += usize::from(p[0] * 4_294_967_296.0 > 4_294_967_295.0);
        let mine: Vec<u32> = (0..g).map(|gi| uniforms[gi * n + i]).collect();
        let mut reference = vec![0u32; k];
        count_draws(&p, &mine, &mut reference);
        let got: Vec<u32> = counts[i].iter().map(|&c| c as u32).collect();
        assert_eq!(got, reference, "problem {i}");
    }
    assert!(saturated > 0, "no threshold above 2³² − 1");
}

#[test]
fn the_cached_weights_are_the_softmax() {
    let (drawn, policy, _) = moved_policy(16);
    for i in 0..16 {
        let x = drawn.transfer()[i];
        for (a, b) in policy.probabilities(i, x).iter().zip(policy.direct_probabilities(i, x)) {
            assert!((a - b).abs() <= 1e-15 * b.max(1e-300) + 1e-300, "{a} against {b}");
        }
    }
}

#[test]
fn the_avx2_and_portable_steps_give_the_same_bits() {
    use std::sync::atomic::Ordering;
    let p = small();
    let run = || {
        final_test(&p, Arm::EarlyStopping, 2)
            .iter()
            .map(|(a, t)| (a.to_bits(), t.to_bits()))
            .collect::<Vec<_>>()
    };
    let dispatched = run();
    GENERIC_ONLY.store(true, Ordering::Relaxed);
    let portable = run();
    GENERIC_ONLY.store(false, Ordering::Relaxed);
    assert_eq!(dispatched, portable);
}

#[test]
fn collapse_is_a_crossing_that_lasts() {
    assert_eq!(collapse_record(&[0.2, 0.3, 0.6, 0.9], 0.5), Some(2));
    // Never reached, reached and lost, or there from the start: not a collapse.
    assert_eq!(collapse_record(&[0.2, 0.3, 0.4], 0.5), None);
    assert_eq!(collapse_record(&[0.2, 0.7, 0.4], 0.5), None);
    assert_eq!(collapse_record(&[0.6, 0.7, 0.9], 0.5), None);
}

#[test]
fn run_helpers() {
    assert!(rose_before(&[0.3, 0.36, 0.1], 1, 0.05));
    assert!(!rose_before(&[0.3, 0.32, 0.9], 1, 0.05));
    // Accuracy fell 0.2, proxy rose 0.3 since record 1: hidden; proxy flat: not.
    assert!(proxy_hides(&[0.5, 0.5, 0.8], &[0.3, 0.3, 0.1], 1));
    assert!(!proxy_hides(&[0.5, 0.5, 0.6], &[0.3, 0.3, 0.1], 1));
    assert_eq!(decile(0.0), 0);
    assert_eq!(decile(0.95), 9);
    assert_eq!(decile(1.0), 9);
}

#[test]
fn tolerance_must_exceed_twice_the_validation_noise() {
    let p = small();
    assert!((validation_noise(&p) - 0.5 / (512f64).sqrt()).abs() < 1e-12);
    assert!(p.validate().is_ok());
    let noisy = Params {
        validation_problems: 16,
        validation_samples: 4,
        tolerance: 0.03,
        ..small()
    };
    assert_eq!(noisy.validate().unwrap_err().key, "tolerance");
}

#[test]
fn relabelling_teacher_runs_away_with_the_template() {
    let frozen = Params {
        template_logit: 1.6,
        ..small()
    };
    let relabel = Params {
        teacher_refresh: 1,
        ..frozen.clone()
    };
    let (mut frozen_acc, mut relabel_acc) = (0.0, 0.0);
    for (acc, _) in final_test(&frozen, Arm::FixedTeacher, 4) {
        frozen_acc += acc;
    }
    for (acc, _) in final_test(&relabel, Arm::FixedTeacher, 4) {
        relabel_acc += acc;
    }
    assert!(
        frozen_acc > relabel_acc + 0.4,
        "frozen {frozen_acc}, relabelled {relabel_acc}"
    );
}

#[test]
fn the_biased_threshold_is_the_two_step_conversion_bit_for_bit() {
    // The conversion before it: subtract 2³¹, then add 1.5·2⁵², low 32 bits.
    fn two_step(x: f64) -> i32 {
        let biased = x.ceil().min(4_294_967_295.0) - 2_147_483_648.0;
        (biased + 6_755_399_441_055_744.0).to_bits() as i32
    }
    let mut rng = Stream::new(18, "t", 0, "biased_threshold");
    let mut xs = vec![
        0.0,
        f64::MIN_POSITIVE,
        5e-324,
        0.5,
        1.0,
        2_147_483_647.5,
        2_147_483_648.0,
        2_147_483_648.5,
        4_294_967_294.5,
        4_294_967_295.0,
        4_294_967_295.5,
        4_294_967_296.0,
        1e300,
    ];
    for _ in 0..100_000 {
        xs.push(rng.uniform() * 4_294_967_297.0);
    }
    for x in xs {
        assert_eq!(biased_threshold(x), two_step(x), "x = {x}");
    }
}

#[test]
fn the_vectorised_thresholds_are_the_scalar_ones_bit_for_bit() {
    // Products at the edges (0, whole numbers, around 2³¹ and 2³² − 1, far above), at
    // every length (whole vectors of eight and tails), with and without one above.
    let mut rng = Stream::new(18, "t", 0, "thresholds");
    let edges = [
        0.0,
        5e-324,
        0.5,
        1.0,
        2_147_483_648.0,
        4_294_967_294.5,
        4_294_967_295.0,
        4_294_967_295.5,
        1e300,
    ];
    let mut cum: Vec<f64> = edges.to_vec();
    cum.extend((0..60).map(|_| rng.uniform() * 2.0));
    let scale: Vec<f64> = (0..cum.len())
        .map(|i| {
            if i < edges.len() {
                1.0
            } else {
                2_147_483_648.0 + rng.uniform()
            }
        })
        .collect();
    for start in [0, 8] {
        for len in 0..cum.len() - start {
            let (c, s) = (&cum[start..start + len], &scale[start..start + len]);
            let Some((got, full)) = thresholds_vectorised(c, s) else {
                return;
            };
            let want: Vec<i32> = c.iter().zip(s).map(|(c, s)| biased_threshold(c * s)).collect();
            assert_eq!(got, want, "start {start} len {len}");
            assert_eq!(full, c.iter().zip(s).any(|(c, s)| c * s > 4_294_967_295.0));
        }
    }
}

#[test]
fn the_avx2_and_portable_steps_agree_with_answers_left_over_and_a_partial_chunk() {
    // K = 13: one group of seven answers counted together, five by the 16-problem
    // kernel; 37 problems: a partial last chunk.
    use std::sync::atomic::Ordering;
    let mut p = small();
    p.wrong_answers = 11;
    p.problems = 37;
    let run = |arm| {
        final_test(&p, arm, 2)
            .iter()
            .map(|(a, t)| (a.to_bits(), t.to_bits()))
            .collect::<Vec<_>>()
    };
    for arm in [Arm::SelfConsistency, Arm::FixedTeacher] {
        let dispatched = run(arm);
        GENERIC_ONLY.store(true, Ordering::Relaxed);
        let portable = run(arm);
        GENERIC_ONLY.store(false, Ordering::Relaxed);
        assert_eq!(dispatched, portable);
    }
}
