"""A vectorised NumPy version of the `proxy_reward` model, the yardstick for issue 18.

What it implements (the model of src/sim/proxy_reward/, at the sizes of
specs/proxy_reward.toml, which it reads): per run, `problems` training problems with
K = wrong_answers + 2 answers (right, wrong ones, a shared template); a softmax policy
over per-problem logits theta plus the shared skill w (on the right answer, reaching
problem i with weight x_i = 1 - c + c*sigmoid(ease_i)) and the shared template bias b.
Every step samples G answers per problem and trains by group-baseline REINFORCE on
the arm's reward: ground truth, self-consistency (agreement with the plurality, ties
broken at random), early stopping (self-consistency, with a sampled validation
accuracy every eval_every steps, patience and a restored best checkpoint) and the
fixed teacher (frozen plurality labels of teacher_samples initial answers; relabelled
every teacher_refresh steps if that is not 0). Every record_every steps it records
the nine metrics of the Rust model (training accuracy and template rate, exact
held-out accuracy and template rate after the step's update, proxy reward, label and
reward accuracy, the rolling proxy-truth correlation, normalised entropy). The scan
(self-consistency at each of scan_template_logits, a quarter of the replicates,
common problems across logits) is simulated too. Summaries: per arm and record the
mean of every metric over runs; per run `collapsed` and `collapse_hidden`; the scan's
collapse share per logit; the initial template-label share.

How it is vectorised: all runs of all four arms and of the scan are rows of one set
of arrays (runs x problems x answers), trained together in one Python loop over the
steps; per-arm behaviour (the reward target, early stopping) is selected with masks
and index arrays. The four arms of a replicate share their problems, as in Rust.
Sampling G answers from each row is one broadcast comparison of G scaled uniforms
with the row's cumulative weights; counts are a bincount.

What it simplifies or does differently: NumPy's own generator (PCG64), so its numbers
agree with ours within sampling error, not bit for bit; the tie-breaking of the
plurality draws a uniform per answer instead of one draw per tie; the validation
accuracy of early stopping is drawn as binomials of the right-answer probability
(the same distribution as counting sampled right answers). The per-run outcomes that
only feed the figure (aligned curves, final deciles, collapsed_after_rise) and the
confidence intervals are not computed.

Prints, beside the committed Rust numbers (figures/data/proxy_reward.csv), a few key
means, and then one line `proxy_reward numpy_seconds=<s>`: simulate + summarise,
single-threaded, median of 3 runs (interpreter start and imports excluded), in CPU
seconds of this process (bench/numpy/harness.py).
"""

import harness  # first: it pins NumPy to one thread

import numpy as np  # noqa: E402

ARMS = ("ground_truth", "self_consistency", "early_stopping", "fixed_teacher")
GT, SC, ES, FT = range(4)
METRICS = (
    "accuracy",
    "test_accuracy",
    "proxy_reward",
    "template_rate",
    "test_template_rate",
    "label_accuracy",
    "reward_accuracy",
    "correlation",
    "entropy",
)


def draw_problems(p, rng, reps, n):
    """Per-problem logits (K, reps, n), template logit still 0, and the reach x_i."""
    k = p["wrong_answers"] + 2
    theta = np.zeros((k, reps, n))
    ease = p["ease_mean"] + p["ease_sd"] * rng.standard_normal((reps, n))
    theta[0] = ease
    theta[1 : k - 1] = p["wrong_sd"] * rng.standard_normal((k - 2, reps, n))
    c = p["reach_contrast"]
    x = 1.0 - c + c / (1.0 + np.exp(-ease))
    return theta, x


def weights(theta, w, b, x):
    """z - max z and exp(z - max z) of z = theta + w*x on the right answer + b on the
    template; answers on the first axis."""
    z = theta.copy()
    z[0] += w[:, None] * x
    z[-1] += b[:, None]
    z -= z.max(axis=0)
    return z, np.exp(z)


def sample_counts(rng, wt, g):
    """Counts (K, ...) of g draws per problem from unnormalised weights wt (K, ...):
    below[a] = how many of the g scaled uniforms fall under the cumulative weight of
    answers 0..a; counts are its differences."""
    cum = np.cumsum(wt, axis=0)
    u = rng.random((g,) + wt.shape[1:])
    u *= cum[-1]
    below = (u[:, None] < cum[None, :-1]).sum(axis=0, dtype=np.int8)
    counts = np.empty(wt.shape, dtype=np.int8)
    counts[0] = below[0]
    np.subtract(below[1:], below[:-1], out=counts[1:-1])
    np.subtract(g, below[-1], out=counts[-1])
    return counts


def plurality(rng, counts):
    """The plurality answer per problem, ties broken uniformly at random (a uniform
    per answer in [0, 1/2) separates the tied)."""
    key = counts + rng.random(counts.shape, dtype=np.float32) * np.float32(0.5)
    best = key[0].copy()
    plur = np.zeros(best.shape, dtype=np.int64)
    for a in range(1, key.shape[0]):
        better = key[a] > best
        plur[better] = a
        np.maximum(best, key[a], out=best)
    return plur


def pick(counts, target):
    """counts[target[...], ...] per problem."""
    return np.take_along_axis(counts, target[None], axis=0)[0]


def simulate(p, reps, seed):
    rng = np.random.default_rng(seed)
    k, g, n = p["wrong_answers"] + 2, p["samples"], p["problems"]
    nt, nv = p["test_problems"], p["validation_problems"]
    scan_reps = -(-reps // 4)
    logits = np.array(p["scan_template_logits"], dtype=float)
    nl = len(logits)

    # Problems: each replicate's problems shared by its four arms; the scan's shared by
    # its template logits (common random numbers).
    tr, tx = draw_problems(p, rng, reps, n)
    te, txt = draw_problems(p, rng, reps, nt)
    va, vx = draw_problems(p, rng, reps, nv)
    s_tr, s_tx = draw_problems(p, rng, scan_reps, n)
    s_te, s_txt = draw_problems(p, rng, scan_reps, nt)

    # Runs: 4 arms x reps (arm-major), then the scan (logit-major).
    arm = np.concatenate([np.repeat(np.arange(4), reps), np.full(nl * scan_reps, SC)])
    runs = len(arm)
    tlogit = np.concatenate([np.full(4 * reps, p["template_logit"]), np.repeat(logits, scan_reps)])
    theta = np.concatenate([np.tile(tr, (1, 4, 1)), np.tile(s_tr, (1, nl, 1))], axis=1)
    x = np.concatenate([np.tile(tx, (4, 1)), np.tile(s_tx, (nl, 1))])
    test = np.concatenate([np.tile(te, (1, 4, 1)), np.tile(s_te, (1, nl, 1))], axis=1)
    test_x = np.concatenate([np.tile(txt, (4, 1)), np.tile(s_txt, (nl, 1))])
    theta[-1] = tlogit[:, None]
    test[-1] = tlogit[:, None]
    # Held-out problems never change: their exp(theta) is computed once.
    test_e = np.exp(test)
    test_wrong = test_e[1:-1].sum(axis=0)
    es = np.flatnonzero(arm == ES)
    val = va.copy()
    val[-1] = p["template_logit"]
    ft = np.flatnonzero(arm == FT)
    w = np.zeros(runs)
    b = np.zeros(runs)

    # The teacher's labels: plurality of teacher_samples answers of the initial model.
    def labels_of(th, ww, bb, xx):
        _, wt = weights(th, ww, bb, xx)
        return plurality(rng, sample_counts(rng, wt, p["teacher_samples"]))

    labels = labels_of(theta, w, b, x)
    template_labels = (labels == k - 1).mean(axis=1)

    steps, every = p["steps"], p["record_every"]
    nrec = steps // every + 1
    values = np.zeros((len(METRICS), runs, nrec))
    window = np.zeros((p["correlation_window"], 4, runs))  # n, p, t, pt per run
    training = np.ones(runs)
    best_acc = np.full(len(es), -np.inf)
    best_theta = theta[:, es].copy()
    best_w = np.zeros(len(es))
    best_b = np.zeros(len(es))
    bad = np.zeros(len(es), dtype=np.int64)
    is_gt = (arm == GT)[:, None]
    is_ft = (arm == FT)[:, None]
    answers = np.arange(k)[:, None, None]
    ln_k = np.log(k)
    lr_p, lr_s, lr_t = p["lr_problem"], p["lr_skill"], p["lr_template"]

    for step in range(steps + 1):
        if step % p["eval_every"] == 0:
            live = training[es] > 0
            if live.any():
                _, vw = weights(val, w[es], b[es], vx)
                right = rng.binomial(p["validation_samples"], vw[0] / vw.sum(axis=0))
                acc = right.sum(axis=1) / (nv * p["validation_samples"])
                better = live & (acc > best_acc)
                worse = live & ~better & (acc < best_acc - p["tolerance"])
                same = live & ~better & ~worse
                best_acc[better] = acc[better]
                best_theta[:, better] = theta[:, es[better]]
                best_w[better] = w[es[better]]
                best_b[better] = b[es[better]]
                bad[better | same] = 0
                bad[worse] += 1
                stop = worse & (bad >= p["patience"])
                if stop.any():
                    theta[:, es[stop]] = best_theta[:, stop]
                    w[es[stop]] = best_w[stop]
                    b[es[stop]] = best_b[stop]
                    training[es[stop]] = 0.0
        if p["teacher_refresh"] > 0 and step > 0 and step % p["teacher_refresh"] == 0:
            labels[ft] = labels_of(theta[:, ft], w[ft], b[ft], x[ft])

        z, wt = weights(theta, w, b, x)
        counts = sample_counts(rng, wt, g)
        plur = plurality(rng, counts)
        c_right = counts[0]
        c_plur = pick(counts, plur)
        right_plur = plur == 0

        # Per-sample tallies of this step (proxy reward p, true reward t) per run.
        tp = c_plur.sum(axis=1, dtype=np.int64)
        tt = c_right.sum(axis=1, dtype=np.int64)
        tpt = np.where(right_plur, c_right, 0).sum(axis=1)
        window[step % p["correlation_window"]] = (np.full(runs, n * g), tp, tt, tpt)

        record = step % every == 0
        if record:
            r = step // every
            total = wt.sum(axis=0)
            # Entropy from z = log w: H = ln total - sum(w z) / total.
            ent = (np.log(total) - (wt * z).sum(axis=0) / total) / ln_k
            agree = np.where(right_plur, g, g - c_plur - c_right).sum(axis=1)
            values[0, :, r] = (wt[0] / total).mean(axis=1)
            values[2, :, r] = tp / (n * g)
            values[3, :, r] = (wt[-1] / total).mean(axis=1)
            values[5, :, r] = right_plur.mean(axis=1)
            values[6, :, r] = agree / (n * g)
            values[8, :, r] = ent.mean(axis=1)
            sn, sp, st, spt = window.sum(axis=0)
            mp, mt = sp / sn, st / sn
            var = mp * (1 - mp) * mt * (1 - mt)
            ok = var > 1e-12
            values[7, :, r] = np.where(ok, (spt / sn - mp * mt) / np.sqrt(np.where(ok, var, 1.0)), 0.0)

        if step < steps:
            target = np.where(is_gt, 0, np.where(is_ft, labels, plur))
            mean_reward = pick(counts, target) * (1.0 / g)
            # Group-baseline REINFORCE: sum of advantages of the samples of each answer.
            grad = counts * ((answers == target) - mean_reward) * (training[:, None] / g)
            theta += lr_p * grad
            w += lr_s * (grad[0] * x).mean(axis=1)
            b += lr_t * grad[-1].mean(axis=1)

        if record:
            right = test_e[0] * np.exp(w[:, None] * test_x)
            template = test_e[-1] * np.exp(b)[:, None]
            ttot = right + test_wrong + template
            values[1, :, r] = (right / ttot).mean(axis=1)
            values[4, :, r] = (template / ttot).mean(axis=1)

    return arm, values, template_labels, reps, scan_reps


def summarise(p, sim):
    arm, values, template_labels, reps, scan_reps = sim
    every = p["record_every"]
    main = values[:, : 4 * reps].reshape(len(METRICS), 4, reps, -1)
    means = main.mean(axis=2)  # metric, arm, record
    acc, template, proxy = main[1], main[4], main[2]
    thr = p["collapse_template"]
    reached = template >= thr
    first = np.argmax(reached, axis=2)
    collapsed = reached[:, :, -1] & ~reached[:, :, 0]
    lead = p["align_window"] // 2 // every
    before = np.maximum(first - lead, 0)
    p_before = np.take_along_axis(proxy, before[:, :, None], axis=2)[:, :, 0]
    a_before = np.take_along_axis(acc, before[:, :, None], axis=2)[:, :, 0]
    hidden = collapsed & (proxy[:, :, -1] >= p_before + 0.2) & (acc[:, :, -1] <= a_before - 0.1)
    scan_t = values[4, 4 * reps :].reshape(len(p["scan_template_logits"]), scan_reps, -1)
    scan_collapsed = ((scan_t[:, :, -1] >= thr) & (scan_t[:, :, 0] < thr)).mean(axis=1)
    return {
        "means": means,
        "collapsed": collapsed.mean(axis=1),
        "collapse_hidden": hidden.mean(axis=1),
        "scan_collapsed": scan_collapsed,
        "template_labels": template_labels[:reps].mean(),
    }


def main():
    spec = harness.load_spec("proxy_reward")
    p, reps = spec["params"], spec["replicates"]
    runs, seconds = harness.timed_runs(lambda k: summarise(p, simulate(p, reps, seed=spec["seed"] + k)))
    s = runs[-1]
    rust = {key: mean for key, (mean, _, _) in harness.committed("proxy_reward").items()}
    steps, every = p["steps"], p["record_every"]
    m = {name: i for i, name in enumerate(METRICS)}
    rows = []
    for a, name in enumerate(ARMS):
        rows.append((f"{name} test_accuracy at {steps}", s["means"][m["test_accuracy"], a, -1], (name, "test_accuracy", steps)))
    for name in ("collapsed", "collapse_hidden"):
        rows.append((f"self_consistency {name}", s[name][SC], ("self_consistency", name, steps)))
    rows.append((f"self_consistency proxy_reward at {steps}", s["means"][m["proxy_reward"], SC, -1], ("self_consistency", "proxy_reward", steps)))
    rows.append(("self_consistency reward_accuracy at 0", s["means"][m["reward_accuracy"], SC, 0], ("self_consistency", "reward_accuracy", 0)))
    rows.append(("self_consistency label_accuracy at 0", s["means"][m["label_accuracy"], SC, 0], ("self_consistency", "label_accuracy", 0)))
    rows.append(("self_consistency correlation at 20", s["means"][m["correlation"], SC, 20 // every], ("self_consistency", "correlation", 20)))
    rows.append(("self_consistency entropy at 0", s["means"][m["entropy"], SC, 0], ("self_consistency", "entropy", 0)))
    rows.append(("initial template_labels", s["template_labels"], ("initial", "template_labels", 0)))
    for logit, share in zip(p["scan_template_logits"], s["scan_collapsed"]):
        rows.append((f"scan collapsed at logit {logit}", share, ("scan", "collapsed", logit)))
    print(f"{'mean (NumPy, its own seed; Rust: committed figure)':<46} {'numpy':>8} {'rust':>8}")
    for label, value, key in rows:
        theirs = rust.get((key[0], key[1], float(key[2])))
        print(f"{label:<46} {value:8.3f} {'' if theirs is None else f'{theirs:8.3f}':>8}")
    harness.report_seconds("proxy_reward", seconds)


if __name__ == "__main__":
    main()
