"""NumPy baseline of the `calibration` simulation (src/sim/calibration/), for issue 18.

What it implements, at the sizes of specs/calibration.toml (read with tomllib):

- Question banks: per replicate a training bank (`train_questions`) and a test bank
  (`test_questions`), each question `answers` logits z ~ belief_spread * N(0, 1), the
  right answer drawn from softmax(z).
- The policy of five scalars (kappa = ln tau, omega = ln w, b, eta0, eta1): answers from
  softmax(tau z); the shared representation softmax(tau^coupling z) gives the certainty
  logit ell of the given answer (clipped to +-30) and u of the top answer; "I don't know"
  with probability sigmoid(eta0 + eta1 u); the spoken confidence
  speak(w ell + b + s eps), eps ~ N(0, 1), rounded to `confidence_levels` steps and
  clamped to [1 - cap, cap] (or a real number for confidence_levels = 0).
- Training: `steps` REINFORCE steps of `batch` questions x `group` responses, RLOO
  advantage for the answer and abstention heads, the self-critical confidence advantage
  (reward at the stated confidence minus at the noise-free one) for the readout and,
  through the coupling, for kappa; Adam with per-parameter step sizes. Arms base, rlvr
  (binary), rlcr (Brier), log_score; `brier_readout_everywhere` switch.
- Evaluation at step 0 and every `record_every` steps: one sampled response per test
  question; accuracy, ECE (10 bins), Brier, AUROC (ties count one half), mean
  confidence, abstention, cap share, decisiveness, readout slope; the reliability
  diagram at the last step; panel (h)'s simulated rule rewards.
- Summarise: mean and 95% t-interval over replicates of every (arm, metric, step).

How it is vectorised: every replicate of every trained arm is a row of the arrays
(3 x replicates rows), so one Python loop over steps drives all runs; per-question
quantities (softmax weights, certainty logits of every answer) are computed once per
question as (rows, batch, K) arrays and gathered for the `group` responses. One numpy
Generator (PCG64) feeds everything, single-threaded.

What it simplifies: its random numbers are numpy's, not the project's named ChaCha8
streams, so it agrees with `mismatch` in distribution (within sampling error), not in
bits; rounding of the spoken level uses floor(x + 1/2) (the Rust rounds half away from
zero: the same for these non-negative values). It writes no table or figure.

Agreement (issue 18; checked with the spec's sizes, 64 replicates a seed). Read side by
side with src/sim/calibration/ (Adam on κ = ln τ with the step sizes [decisiveness_lr,
readout_lr, readout_lr, abstain_lr, abstain_lr]; the rewards; RLOO over `group`; the
self-critical confidence advantage; records at 0 and every `record_every`) this is the
same model. RLVR's final decisiveness τ is the noisiest number of the figure: per
replicate it is skewed (sd 3.1-5.0, median about 14.2), so a 64-replicate mean has a
standard error of about 0.45-0.6. Over 12 seeds (768 replicates) this baseline gives
14.76 ± 0.27 (95%), seed means 14.11-15.22; the committed CSV's 15.55 [14.67, 16.43]
is Rust's own seed on the high side: `mismatch run calibration --set seed=... --set
replicates=256` at the spec seed + 1, + 2, + 3 gives 14.91 [14.42, 15.40], 14.49
[14.03, 14.95], 14.83 [14.33, 15.32] (RLVR final ECE 0.2986, 0.2972, 0.2981 against
this baseline's 0.2980 ± 0.0011; the committed 0.3042 is that same high seed). RLCR's
final ECE (0.034-0.040 per seed) and AUROC (0.707) agree too.

Usage: python3 bench/numpy/calibration.py [specs/calibration.toml]
Prints key means (the mean over the 3 runs, and the lowest and highest run) beside the
committed figures/data/calibration.csv (its mean and 95% interval) and one line
`calibration numpy_seconds=<s>`: the median over 3 runs (seeds seed, seed+1, seed+2) of
the CPU time of simulate + summarise in this single-threaded process (bench/numpy/harness.py).
"""

import harness  # first: it pins NumPy to one thread

import numpy as np  # noqa: E402

BINS = 10
CLIP = 30.0
ARMS = ["rlvr", "rlcr", "log_score"]  # trained arms, in row-block order
BINARY, BRIER, LOG = 0, 1, 2
METRICS = ["accuracy", "ece", "brier", "auroc", "confidence", "abstention",
           "cap_share", "decisiveness", "readout_slope"]
# Two-sided 95% t quantiles for small df; normal beyond.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df):
    keys = sorted(k for k in T975 if k <= df)
    return T975[keys[-1]] if df < 1000 else 1.96


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Scale:
    """The spoken scale: round(σ(x) · levels) clamped to [lo, hi] (floor(v + ½): these
    values are non-negative), or a real number clamped to [1 − cap, cap]."""

    def __init__(self, levels, cap):
        self.levels, self.cap = levels, cap
        self.lo = np.floor((1.0 - cap) * levels + 0.5)
        self.hi = np.floor(cap * levels + 0.5)

    def level(self, logit):
        level = sigmoid(logit)
        level *= self.levels
        level += 0.5
        np.floor(level, out=level)
        return np.clip(level, self.lo, self.hi, out=level)

    def speak(self, logit):
        """(q, rank score, bin, at_cap) of the confidence with log-odds `logit`."""
        if self.levels == 0:
            raw = sigmoid(logit)
            q = np.clip(raw, 1.0 - self.cap, self.cap)
            b = np.minimum((q * BINS).astype(np.int64), BINS - 1)
            return q, logit, b, raw >= self.cap
        level = self.level(logit)
        b = np.minimum(level * BINS // self.levels, BINS - 1).astype(np.int64)
        return level / self.levels, level, b, level == self.hi

    def speak_q(self, logit):
        if self.levels == 0:
            return np.clip(sigmoid(logit), 1.0 - self.cap, self.cap)
        return self.level(logit) / self.levels


class Bank:
    """Question banks of every replicate, answers on the leading axis: logits z
    (K, reps, n), the right answers (reps, n), and what every evaluation reuses: the
    top answer and z - max z."""

    def __init__(self, rng, reps, n, k, spread):
        self.z = spread * rng.standard_normal((k, reps, n))
        zmax = self.z.max(axis=0)
        self.d = self.z - zmax
        e = np.exp(self.d)
        target = rng.random((reps, n)) * e.sum(axis=0)
        cum = np.zeros((reps, n))
        self.right = np.zeros((reps, n), dtype=np.int64)
        for j in range(k - 1):
            cum += e[j]
            self.right += cum <= target
        self.top = first_max(self.z)
        self.not_top = (np.arange(k).reshape(k, 1, 1) != self.top).astype(np.float64)
        # For drawing training batches: (z, d) of each question contiguous, replicate-major.
        self.by_question = np.ascontiguousarray(np.concatenate([self.z, self.d]).reshape(2 * k, -1).T)


def first_max(z):
    """Index of the first maximum along the leading axis (as the Rust picks it)."""
    top = np.zeros(z.shape[1:], dtype=np.int64)
    best = z[0]
    for j in range(1, z.shape[0]):
        top = np.where(z[j] > best, j, top)
        best = np.maximum(best, z[j])
    return top


def rule_reward(rule, c, q):
    if rule == BINARY:
        return c
    if rule == BRIER:
        return c - (q - c) ** 2
    with np.errstate(divide="ignore"):
        return c + c * np.log(q) + (1.0 - c) * np.log(1.0 - q)


def others_sum(values, a):
    """Σ_{j≠a} values[j] over the leading axis, a an index array (summed directly:
    S − values[a] would cancel when values[a] ≈ S)."""
    out = np.where(a == 0, 0.0, values[0])
    for j in range(1, values.shape[0]):
        out += np.where(a == j, 0.0, values[j])
    return out


def cumulative(w):
    """Running sums over the leading axis (K − 1 whole-array additions)."""
    cum = np.empty_like(w)
    cum[0] = w[0]
    for j in range(1, w.shape[0]):
        np.add(cum[j - 1], w[j], out=cum[j])
    return cum


def sample(cum, uniform):
    """Answer index by inverse CDF: the number of running sums at or below u · total."""
    target = uniform * cum[-1]
    a = (cum[0] <= target).astype(np.int64)
    for j in range(1, cum.shape[0] - 1):
        a += cum[j] <= target
    return a


def evaluate(rng, bank, theta, p, scale, chunk=16):
    """One sampled response per test question for every run (rows of theta; row i
    answers bank replicate i mod reps); returns metrics (rows, 9) and per-bin tallies.
    Runs are processed `chunk` replicates at a time so the arrays stay in cache."""
    _, reps, n = bank.z.shape
    rows = theta.shape[0]
    metrics = np.empty((rows, 9))
    bin_n = np.empty((rows, BINS))
    bin_right = np.empty((rows, BINS))
    bin_conf = np.empty((rows, BINS))
    tau_all = np.exp(theta[:, 0])
    tau_s_all = np.exp(p["coupling"] * theta[:, 0])
    w_all = np.exp(theta[:, 1])
    k = bank.z.shape[0]
    for lo in range(0, rows, chunk):
        hi = min(lo + chunk, rows, (lo // reps + 1) * reps)  # chunks stay inside one arm's block
        r0, r1 = lo % reps, lo % reps + (hi - lo)
        z, d, top, right = bank.z[:, r0:r1], bank.d[:, r0:r1], bank.top[r0:r1], bank.right[r0:r1]
        th = theta[lo:hi]
        tau, tau_s = tau_all[lo:hi, None], tau_s_all[lo:hi, None]
        d_s = tau_s * d
        sw = np.exp(d_s)
        # The top answer's weight is exactly 1: its others are the masked sum (summed
        # directly, no cancellation); any other answer's are S − w_a ≥ 1.
        others_top = (sw * bank.not_top[:, r0:r1]).sum(axis=0)
        total_s = others_top + 1.0
        with np.errstate(divide="ignore"):
            u = np.clip(-np.log(others_top), -CLIP, CLIP)
        p_abs = sigmoid(th[:, 3:4] + th[:, 4:5] * u)
        abstain = rng.random(u.shape) < p_abs
        cum = cumulative(np.exp(tau * d))
        a = sample(cum, rng.random(u.shape))
        flat = a * u.size + np.arange(u.size).reshape(u.shape)
        with np.errstate(divide="ignore"):
            ell_other = d_s.reshape(-1).take(flat) - np.log(total_s - sw.reshape(-1).take(flat))
        ell = np.where(a == top, u, np.clip(ell_other, -CLIP, CLIP))
        m = w_all[lo:hi, None] * ell + th[:, 2:3]
        eps = rng.standard_normal(u.shape)
        q, score, b, cap = scale.speak(m + p["confidence_noise"] * eps)
        answered = ~abstain
        c = ((a == right) & answered).astype(np.float64)
        q = np.where(answered, q, 0.0)
        score = np.where(answered, score, -np.inf)
        b = np.where(answered, b, 0)
        # Per (row, bin): responses, right ones, summed confidence.
        nr = hi - lo
        idx = (np.arange(nr)[:, None] * BINS + b).ravel()
        bn = np.bincount(idx, minlength=nr * BINS).reshape(nr, BINS)
        br = np.bincount(idx, weights=c.ravel(), minlength=nr * BINS).reshape(nr, BINS)
        bc = np.bincount(idx, weights=q.ravel(), minlength=nr * BINS).reshape(nr, BINS)
        bin_n[lo:hi], bin_right[lo:hi], bin_conf[lo:hi] = bn, br, bc
        n_right = c.sum(axis=1)
        out = metrics[lo:hi]
        out[:, 0] = n_right / n
        out[:, 1] = np.abs(br - bc).sum(axis=1) / n
        out[:, 2] = ((q - c) ** 2).mean(axis=1)
        out[:, 3] = auroc(score, c, n_right, scale)
        out[:, 4] = q.mean(axis=1)
        out[:, 5] = abstain.mean(axis=1)
        out[:, 6] = (cap & answered).mean(axis=1)
    metrics[:, 7] = tau_all
    metrics[:, 8] = w_all
    return metrics, (bin_n, bin_right, bin_conf)


def auroc(score, correct, n_right, scale):
    """P(right scores above wrong) + half P(tie), per row."""
    rows, n = score.shape
    n_wrong = n - n_right
    if scale.levels > 0:
        # Discrete scale: histogram of right and wrong per level (abstentions at -1).
        width = scale.levels + 2
        lvl = np.where(np.isfinite(score), score + 1, 0).astype(np.int64)
        idx = (np.arange(rows)[:, None] * width + lvl).ravel()
        right = np.bincount(idx, weights=correct.ravel(), minlength=rows * width).reshape(rows, width)
        total = np.bincount(idx, minlength=rows * width).reshape(rows, width)
        wrong = total - right
        below = np.cumsum(wrong, axis=1) - wrong
        pairs = (right * (below + 0.5 * wrong)).sum(axis=1)
    else:
        # Real-valued scores: midranks (Mann-Whitney U) per row.
        pairs = np.empty(rows)
        for r in range(rows):
            s = score[r]
            order = np.sort(s)
            ranks = 0.5 * (np.searchsorted(order, s, "left") + np.searchsorted(order, s, "right") + 1)
            pairs[r] = ranks[correct[r] > 0].sum() - n_right[r] * (n_right[r] + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pairs / (n_right * n_wrong)
    return np.where((n_right == 0) | (n_wrong == 0), 0.5, out)


def train_step(rng, bank, rep, rules, theta, adam, p, scale):
    """One policy-gradient step of every run: `batch` questions x `group` responses."""
    rows = theta.shape[0]
    bsz, g, k = p["batch"], p["group"], p["answers"]
    coupling, noise = p["coupling"], p["confidence_noise"]
    n = bank.z.shape[2]
    q_idx = rep[:, None] * n + rng.integers(0, n, size=(rows, bsz))
    zd = np.ascontiguousarray(np.moveaxis(bank.by_question.take(q_idx, axis=0), -1, 0))
    z, d = zd[:k], zd[k:]  # (K, rows, batch)
    top = bank.top.reshape(-1).take(q_idx)
    right = bank.right.reshape(-1).take(q_idx)
    tau = np.exp(theta[:, 0])[:, None]
    tau_s = np.exp(coupling * theta[:, 0])[:, None]
    w = np.exp(theta[:, 1])[:, None]
    b = theta[:, 2][:, None]
    # Per question and candidate answer: certainty logit ℓ and its slope, the answer
    # score τ (z_j − E_π z), and the noise-free stated confidence.
    aw = np.exp(tau * d)
    cum = cumulative(aw)
    mean_z = (aw * z).sum(axis=0) / cum[-1]
    score_tau = tau * (z - mean_z)
    d_s = tau_s * d
    sw = np.exp(d_s)
    swz = sw * z
    # Sums over the other answers: S − w_j, except for the top answer, whose others are
    # summed directly (there S − w_top would cancel; elsewhere w_j ≤ w_top = 1 ≤ S).
    is_top = np.arange(k).reshape(k, 1, 1) == top
    others = np.where(is_top, others_sum(sw, top), sw.sum(axis=0) - sw)
    others_z = np.where(is_top, others_sum(swz, top), swz.sum(axis=0) - swz)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = d_s - np.log(others)
        dell = np.where(np.abs(raw) <= CLIP, tau_s * (z - others_z / others), 0.0)
    ell = np.clip(raw, -CLIP, CLIP)
    u = np.take_along_axis(ell, top[None], axis=0)[0]
    q_greedy_all = scale.speak_q(w * ell + b)
    # Responses: (rows, batch, group).
    p_abs = sigmoid(theta[:, 3:4] + theta[:, 4:5] * u)[..., None]
    abstain = rng.random((rows, bsz, g)) < p_abs
    a = sample(cum[..., None], rng.random((rows, bsz, g)))
    eps = rng.standard_normal((rows, bsz, g))
    flat = a * (rows * bsz) + np.arange(rows * bsz).reshape(rows, bsz, 1)

    def pick(values):  # (K, rows, batch) -> the sampled answers' (rows, batch, group)
        return values.reshape(-1).take(flat)

    ell_a = pick(ell)
    w3, b3 = w[..., None], b[..., None]
    q = scale.speak_q(w3 * ell_a + b3 + noise * eps)
    q_greedy = pick(q_greedy_all)
    answered = ~abstain
    c = ((a == right[..., None]) & answered).astype(np.float64)
    reward = np.empty_like(q)
    adv_conf = np.empty_like(q)
    for arm, (lo, hi) in enumerate(rules):
        sl = slice(lo, hi)
        reward[sl] = rule_reward(arm, c[sl], q[sl])
        conf_rule = BRIER if p["brier_readout_everywhere"] else arm
        adv_conf[sl] = rule_reward(conf_rule, c[sl], q[sl]) - rule_reward(conf_rule, c[sl], q_greedy[sl])
    reward = np.where(answered, reward, 0.0)
    # RLOO: the reward minus the mean of the other responses to the same question.
    adv = reward - (reward.sum(axis=-1, keepdims=True) - reward) / (g - 1)
    adv_abstain = adv * (abstain - p_abs)
    # Score of the stated log-odds m + s ε with respect to m, times the advantage.
    if noise > 0:
        conf_score = np.where(answered, adv_conf * eps, 0.0) / noise
    else:
        conf_score = np.zeros_like(q)
    w_conf = conf_score * w3
    grad = np.empty((rows, 5))
    grad[:, 0] = (np.where(answered, adv * pick(score_tau), 0.0)
                  + w_conf * coupling * pick(dell)).sum(axis=(1, 2))
    grad[:, 1] = (w_conf * ell_a).sum(axis=(1, 2))
    grad[:, 2] = conf_score.sum(axis=(1, 2))
    grad[:, 3] = adv_abstain.sum(axis=(1, 2))
    grad[:, 4] = (adv_abstain * u[..., None]).sum(axis=(1, 2))
    grad /= bsz * g
    adam.ascend(theta, grad)


class Adam:
    def __init__(self, rows, p):
        d, r, a = p["decisiveness_lr"], p["readout_lr"], p["abstain_lr"]
        self.lr = np.array([d, r, r, a, a])
        self.m = np.zeros((rows, 5))
        self.v = np.zeros((rows, 5))
        self.t = 0

    def ascend(self, theta, grad):
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * grad
        self.v = 0.999 * self.v + 0.001 * grad * grad
        c1, c2 = 1.0 - 0.9 ** self.t, 1.0 - 0.999 ** self.t
        theta += self.lr * (self.m / c1) / (np.sqrt(self.v / c2) + 1e-8)


def simulate(p, reps, seed):
    """Raw results: {arm: records (reps, n_records, 9)}, last tallies, rule means."""
    rng = np.random.default_rng(seed)
    k = p["answers"]
    scale = Scale(p["confidence_levels"], p["confidence_cap"])
    train = Bank(rng, reps, p["train_questions"], k, p["belief_spread"])
    test = Bank(rng, reps, p["test_questions"], k, p["belief_spread"])
    rows = len(ARMS) * reps
    rep = np.tile(np.arange(reps), len(ARMS))
    rules = [(i * reps, (i + 1) * reps) for i in range(len(ARMS))]
    theta0 = np.zeros(5)
    theta0[3] = p["initial_abstain_logit"]
    # The untrained model: one evaluation stands for every step.
    base, base_tally = evaluate(rng, test, np.tile(theta0, (reps, 1)), p, scale)
    theta = np.tile(theta0, (rows, 1))
    adam = Adam(rows, p)
    metrics, tally = evaluate(rng, test, theta, p, scale)
    records = [metrics]
    for step in range(1, p["steps"] + 1):
        train_step(rng, train, rep, rules, theta, adam, p, scale)
        if step % p["record_every"] == 0:
            metrics, tally = evaluate(rng, test, theta, p, scale)
            records.append(metrics)
    records = np.stack(records, axis=1)  # (rows, n_records, 9)
    out = {"base": np.repeat(base[:, None, :], records.shape[1], axis=1)}
    last = {"base": base_tally}
    for i, arm in enumerate(ARMS):
        out[arm] = records[i * reps:(i + 1) * reps]
        last[arm] = tuple(t[i * reps:(i + 1) * reps] for t in tally)
    # Panel (h): calibrated answers (q = p) under each rule.
    probs = np.array(p["rule_probabilities"])
    c = (rng.random((reps, len(probs), p["rule_samples"])) < probs[None, :, None]).astype(np.float64)
    pp = probs[None, :, None]
    rules_mean = {name: rule_reward(r, c, pp).mean(axis=-1)
                  for name, r in [("binary", BINARY), ("brier", BRIER), ("log", LOG)]}
    return out, last, rules_mean


def summarise(out, last, rules_mean):
    """Mean and 95% t-interval over replicates of every (arm, metric, step), and the
    reliability diagram's bin shares, accuracies and confidences."""
    table = {}

    def interval(v):  # v: (reps, ...)
        n = v.shape[0]
        mean = v.mean(axis=0)
        half = t975(n - 1) * v.std(axis=0, ddof=1) / np.sqrt(n)
        return mean, mean - half, mean + half

    for arm, rec in out.items():
        table[(arm, "metrics")] = interval(rec)
        bin_n, bin_right, bin_conf = last[arm]
        n = bin_n.sum(axis=1, keepdims=True)
        table[(arm, "bin_share")] = interval(bin_n / n)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = bin_right / bin_n
            conf = bin_conf / bin_n
        table[(arm, "bin_accuracy")] = (np.nanmean(acc, axis=0),)
        table[(arm, "bin_confidence")] = (np.nanmean(conf, axis=0),)
    for name, v in rules_mean.items():
        table[(name, "expected_reward")] = interval(v)
    return table


def main():
    spec = harness.load_spec("calibration")
    p, reps, seed = spec["params"], spec["replicates"], spec["seed"]
    tables, seconds = harness.timed_runs(lambda k: summarise(*simulate(p, reps, seed + k)))
    committed = harness.committed("calibration")
    last_x = float(p["steps"])
    nan3 = (float("nan"),) * 3

    def row(name, metric, x, runs):
        # One run's mean is one draw (a 64-replicate mean of a skewed metric can sit
        # 2 standard errors off): show the mean over the runs and their range.
        rm, rlo, rhi = committed.get((name, metric, x), nan3)
        print(f"{name:<10} {metric:<13} {x:>5g} {np.mean(runs):9.4f} {min(runs):9.4f} {max(runs):9.4f}"
              f" {rm:9.4f} [{rlo:.4f}, {rhi:.4f}]")

    print(f"{'arm':<10} {'metric':<13} {'step':>5} {'numpy':>9} {'min run':>9} {'max run':>9} {'mismatch':>9} [95% interval]")
    for arm in ["rlvr", "rlcr", "log_score"]:
        for metric in ["accuracy", "ece", "auroc", "brier", "cap_share", "abstention", "decisiveness"]:
            for i, x in [(0, 0.0), (-1, last_x)]:
                if x == 0.0 and metric in ("decisiveness",):
                    continue
                row(arm, metric, x, [t[(arm, "metrics")][0][i, METRICS.index(metric)] for t in tables])
    ri = p["rule_probabilities"].index(0.45) if 0.45 in p["rule_probabilities"] else 0
    row("brier", "expected_reward", p["rule_probabilities"][ri],
        [t[("brier", "expected_reward")][0][ri] for t in tables])
    harness.report_seconds("calibration", seconds)


if __name__ == "__main__":
    main()
