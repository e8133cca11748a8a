"""NumPy baseline of the `offline_correction` simulation (issue 18).

What it implements: the model of `src/sim/offline_correction/` at the sizes of
`specs/offline_correction.toml` (read here with tomllib), every experiment the Rust
simulation runs:

- first attempts of the model's own and of the foreign population (accuracy, mode
  weights, salience uniform in mean ± width clipped to [0, 1]); symptom
  x = σ·g·onehot(e) + η·N(0, I) for a wrong attempt, η·N(0, I) for a right one;
- the base corrector (keep bias, symptom weights N(0, base_gain²)), a softmax over
  keep and the M fixes, linear in (1, x);
- the main condition, per replicate: Pair-SFT and Pair-SFT+ on traces at mismatch λ
  and on the model's own attempts (λ = 0), STaR (the base corrector's successful
  sampled corrections of its own attempts), online RL (REINFORCE, reward r2, baseline
  r1 plus a running mean of r2 − r1), all deployed at `deploy_temperature` on one eval
  set with exact expectations over the action and the fix outcome; Pair-SFT's
  training curves (fix rate on the traces' and on the own wrong attempts every
  `record_every` steps, over the first `curve_attempts` wrong attempts);
- the λ sweep, as the Rust model runs it (`main_run` in model.rs): every point shares
  the main replicate's eval set and base corrector; the point at λ = `lambda` is the
  main arms Pair-SFT and Pair-SFT+, the point at λ = 0 the main arms Pair-SFT (own) and
  Pair-SFT+ (own) (the same experiment, not trained twice); only each other λ draws a
  fresh trace set and trains Pair-SFT and Pair-SFT+ on it, deployed on the main eval
  set (at the spec's sizes: 4 trace sets and 8 fine-tunings, so 13 fine-tunings per
  replicate in all, as in Rust);
- the summary: mean and 95% t-interval over replicates of every metric the Rust
  analysis reports (arm metrics, paired differences, the win share, curves, sweep).

How it is vectorised: every replicate of every arm at once as rows of arrays. All 13
supervised fine-tunings (5 of the main condition, 2 per λ of the sweep other than
`lambda` and 0) run as one stack of 13·R policies through one Python loop over the
`sft_steps` steps (each step:
one gather of the batch's symptoms, batched logits, softmax, batched gradient); online
RL is one loop over `rl_steps` with the R policies as rows; deployment is one batched
softmax per arm over all R × eval_problems problems.

What it simplifies: randomness comes from NumPy's own Generator (PCG64), one stream for
everything, so it reproduces the model, not the Rust bits; the summary numbers agree
within sampling error. It computes the training curves only where the figure uses
them. No analysis beyond the means and intervals (no claims, no CSV), no plotting.

Agreement, checked when the sweep was made to reuse the main arms as Rust does (seeds
seed and seed + 1, R = 200): of the 154 means with an interval in the committed CSV,
|numpy − rust| / (combined standard error) had mean +0.01 and −0.37, sd 0.91 and 0.96,
and 5 of 154 above 2 per seed (largest: pair_sft_plus c_to_i, 0.0043 against 0.0039
[0.0037, 0.0041], z ≈ 3); every sweep point inside or next to the Rust interval.
That largest one is the committed seed's draw: `mismatch run offline_correction --set
seed=<spec seed + 1, + 2> --set replicates=800` gives pair_sft_plus c_to_i 0.00425 and
0.00423, edit_rate 0.0693 and 0.0683 (this baseline: 0.0043/0.0042, 0.0689/0.0685);
against the seed + 2 table the 154 means have z mean +0.45 and −0.05, sd 1.20 and 0.77.

Run: python3 bench/numpy/offline_correction.py [specs/offline_correction.toml]
Prints a few key means beside the committed Rust ones (figures/data/offline_correction.csv)
and one line `offline_correction numpy_seconds=<median of 3 runs>` (simulate +
summarise, single-threaded; interpreter start and imports excluded), in CPU seconds of
this process (bench/numpy/harness.py).
"""

import harness  # first: it pins NumPy to one thread

import numpy as np  # noqa: E402

KEEP = 0


class Pop:
    """A population of first attempts: accuracy, mode CDF, salience range."""

    def __init__(self, p, which):
        self.accuracy = p[f"{which}_accuracy"]
        w = np.asarray(p[f"{which}_mode_weights"], dtype=float)
        self.cdf = np.cumsum(w) / w.sum()
        mean, width = p[f"{which}_salience"], p[f"{which}_salience_width"]
        self.lo, self.hi = max(mean - width, 0.0), min(mean + width, 1.0)


def draw(rng, p, rows, n, lam=None):
    """`rows` sets of `n` attempts: error (rows, n) with 0 = right and e + 1 = an error
    of mode e, and (1, symptom) x (rows, n, M + 1): the leading 1 carries the bias, so
    logits and gradients are one matrix product each. With `lam`, each attempt is foreign with
    probability λ and the model's own otherwise."""
    m = len(p["own_mode_weights"])
    own = Pop(p, "own")
    u_mode = rng.random((rows, n))
    mode = np.searchsorted(own.cdf, u_mode, side="right")
    acc, lo, hi = own.accuracy, own.lo, own.hi
    if lam is not None and lam > 0.0:
        foreign = Pop(p, "foreign")
        f = rng.random((rows, n)) < lam
        mode = np.where(f, np.searchsorted(foreign.cdf, u_mode, side="right"), mode)
        acc = np.where(f, foreign.accuracy, acc)
        lo = np.where(f, foreign.lo, lo)
        hi = np.where(f, foreign.hi, hi)
    np.minimum(mode, m - 1, out=mode)
    wrong = rng.random((rows, n)) >= acc
    error = np.where(wrong, mode + 1, 0)
    signal = (lo + (hi - lo) * rng.random((rows, n))) * p["symptom_gain"]
    x = np.empty((rows, n, m + 1))
    x[:, :, 0] = 1.0
    x[:, :, 1:] = rng.standard_normal((rows, n, m))
    if p["symptom_noise"] != 1.0:
        x[:, :, 1:] *= p["symptom_noise"]
    flat = (np.arange(rows * n) * (m + 1) + 1 + mode.ravel())[wrong.ravel()]
    x.reshape(-1)[flat] += signal[wrong]
    return error, x


def base_policy(rng, p, rows):
    """`rows` base correctors theta (rows, A, M + 1): column 0 the biases (keep's
    `base_keep_bias`, the fixes' 0), columns 1.. the symptom weights N(0, base_gain²)."""
    m = len(p["own_mode_weights"])
    theta = np.zeros((rows, m + 1, m + 1))
    theta[:, KEEP, 0] = p["base_keep_bias"]
    theta[:, :, 1:] = p["base_gain"] * rng.standard_normal((rows, m + 1, m))
    return theta


def softmax1_(z):
    """In place: softmax over axis 1 (the actions) of z (rows, A, n). The max and
    the sum run as a loop over the few actions: NumPy reduces a short middle axis
    slowly."""
    top = z[:, 0, :].copy()
    for k in range(1, z.shape[1]):
        np.maximum(top, z[:, k, :], out=top)
    z -= top[:, None, :]
    np.exp(z, out=z)
    total = z[:, 0, :].copy()
    for k in range(1, z.shape[1]):
        total += z[:, k, :]
    z /= total[:, None, :]
    return z


def probs(theta, x, temperature=1.0):
    """Action probabilities (rows, A, n) of the correctors for x (rows, n, M + 1)."""
    z = np.matmul(theta, x.transpose(0, 2, 1))
    if temperature != 1.0:
        z *= 1.0 / temperature
    return softmax1_(z)


def sample_actions(pr, u):
    """Categorical draws (rows, n) from pr (rows, A, n) by inverse CDF with uniforms u."""
    c = pr[:, 0, :].copy()
    act = (u >= c).astype(np.intp)
    for k in range(1, pr.shape[1] - 1):
        c += pr[:, k, :]
        act += u >= c
    return act


def p_right(p, error, action):
    """P(turn 2 right | error, action), elementwise."""
    return np.where(
        error == 0,
        np.where(action == KEEP, 1.0, 1.0 - p["break_chance"]),
        np.where(action == error, p["fix_success"], 0.0),
    )


def deploy(p, policy, error, x):
    """The anchor's metrics (each (R,)) of R correctors on their eval sets, exact
    expectations over the action at `deploy_temperature` and the fix outcome."""
    pr = probs(policy, x, p["deploy_temperature"])
    n = error.shape[1]
    right = error == 0
    # After keep or a fix of a right answer; after fix_e of an error of mode e.
    p_keep = pr[:, KEEP, :]
    p_own = np.take_along_axis(pr, error[:, None, :], 1)[:, 0, :]
    after = np.where(right, p_keep + (1.0 - p["break_chance"]) * (1.0 - p_keep), p["fix_success"] * p_own)
    acc_t1 = right.mean(1)
    acc_t2 = after.mean(1)
    i_to_c = np.where(right, 0.0, after).sum(1) / n
    c_to_i = np.where(right, 1.0 - after, 0.0).sum(1) / n
    chosen = pr.sum(2)
    q = chosen / chosen.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(q > 0, q * np.log(q), 0.0).sum(1)
    return {
        "acc_t1": acc_t1,
        "acc_t2": acc_t2,
        "delta": acc_t2 - acc_t1,
        "i_to_c": i_to_c,
        "c_to_i": c_to_i,
        "fix_rate": i_to_c / np.maximum(1.0 - acc_t1, 1e-12),
        "edit_rate": 1.0 - chosen[:, KEEP] / n,
        "action_entropy": h / np.log(pr.shape[1]),
    }


def first_wrong(p, error, x):
    """The first `curve_attempts` wrong attempts of each set: symptoms (rows, k, M),
    errors (rows, k), a validity mask (rows, k) and the count (rows,)."""
    k = p["curve_attempts"]
    wrong = error != 0
    idx = np.argsort(~wrong, axis=1, kind="stable")[:, :k]
    count = np.minimum(wrong.sum(1), k)
    valid = np.arange(idx.shape[1])[None, :] < count[:, None]
    return (
        np.take_along_axis(x, idx[:, :, None], 1),
        np.take_along_axis(error, idx, 1),
        valid,
        count,
    )


def fix_rate_on(p, policy, sel):
    """Expected share of the selected wrong attempts that the correctors fix."""
    x, e, valid, count = sel
    pr = probs(policy, x, p["deploy_temperature"])
    pe = np.take_along_axis(pr, e[:, None, :], 1)[:, 0, :]
    return (pe * valid).sum(1) * p["fix_success"] / np.maximum(count, 1)


def simulate(p, R, seed):
    rng = np.random.default_rng(seed)
    m = len(p["own_mode_weights"])
    a = m + 1
    n_traces, lambdas = p["traces"], p["lambdas"]
    # The sweep points that are not main arms (Rust's `main_run`: λ = `lambda` is
    # pair_sft/pair_sft_plus, λ = 0 is pair_sft_own/pair_sft_plus_own): only these
    # draw traces and train; all share the main eval set and base corrector.
    fresh = [lam for lam in lambdas if lam != p["lambda"] and lam != 0.0]
    L = len(fresh)

    # ---- the sets: the main condition's, and the traces of each fresh sweep point.
    eval_e, eval_x = draw(rng, p, R, p["eval_problems"])
    base = base_policy(rng, p, R)
    tr_e, tr_x = draw(rng, p, R, n_traces, p["lambda"])
    own_e, own_x = draw(rng, p, R, n_traces, 0.0)
    star_e, star_x = draw(rng, p, R, p["star_attempts"])
    pool_e, pool_x = draw(rng, p, R, p["rl_pool"])
    sw = [draw(rng, p, R, n_traces, lam) for lam in fresh]
    sw_tr_e = np.concatenate([e for e, _ in sw]) if L else np.zeros((0, n_traces), np.intp)
    sw_tr_x = np.concatenate([x for _, x in sw]) if L else np.zeros((0, n_traces, m + 1))
    del sw

    # ---- STaR's pairs: the base corrector's sampled corrections that fix an error.
    pr = probs(base, star_x)
    star_act = sample_actions(pr, rng.random(star_e.shape))
    star_ok = (rng.random(star_e.shape) < p_right(p, star_e, star_act)) & (star_e != 0)

    # ---- every supervised fine-tuning as one stack of S = (5 + 2L)·R correctors,
    # all from the main base corrector (the sweep's too, as in Rust).
    # Run s samples pairs (global symptom row, target action) from its padded list.
    sets_x = np.concatenate([s.reshape(-1, m + 1) for s in (tr_x, own_x, star_x, sw_tr_x)])
    offsets = np.cumsum([0, tr_e.size, own_e.size, star_e.size])
    runs = []  # (first global row of each set (rows,), use (rows, n), target (rows, n))
    for start, err in [(offsets[0], tr_e), (offsets[1], own_e)]:
        off = start + np.arange(R) * err.shape[1]
        runs.append((off, err != 0, err))  # Pair-SFT: wrong → fix_e
        runs.append((off, np.ones_like(err, bool), err))  # Pair-SFT+: and right → keep
    runs.append((offsets[2] + np.arange(R) * star_e.shape[1], star_ok, star_act))
    sw_off = offsets[3] + np.arange(L * R) * n_traces
    runs.append((sw_off, sw_tr_e != 0, sw_tr_e))
    runs.append((sw_off, np.ones_like(sw_tr_e, bool), sw_tr_e))
    n_max = max(use.shape[1] for _, use, _ in runs)
    S = sum(use.shape[0] for _, use, _ in runs)
    pidx = np.zeros((S, n_max), np.intp)
    ptgt = np.zeros((S, n_max), np.intp)
    plen = np.zeros(S, np.intp)
    row = 0
    for off, use, tgt in runs:
        k, w = use.shape
        order = np.argsort(~use, axis=1, kind="stable")
        pidx[row : row + k, :w] = off[:, None] + order
        ptgt[row : row + k, :w] = np.take_along_axis(tgt, order, 1)
        plen[row : row + k] = use.sum(1)
        row += k
    pidx, ptgt = pidx.ravel(), ptgt.ravel()
    theta = np.concatenate([base] * (5 + 2 * L))
    B = p["sft_batch"]
    rate = np.where(plen > 0, p["sft_rate"] / B, 0.0)[:, None, None]
    plen_f = np.maximum(plen, 1).astype(float)[:, None]
    row_start = (np.arange(S) * n_max)[:, None]
    # d = onehot(target) − p: the flat index of (s, target, b) in an (S, A, B) array.
    hot_base = (np.arange(S) * a * B)[:, None] + np.arange(B)[None, :]

    # Panel (c): Pair-SFT (λ) on its traces' and on the eval set's wrong attempts;
    # Pair-SFT on the own traces (rows 2R..3R) on the eval set's.
    sel_tr, sel_eval = first_wrong(p, tr_e, tr_x), first_wrong(p, eval_e, eval_x)
    steps, c_off, c_own, c_own0 = [], [], [], []

    def record(step):
        steps.append(step)
        pair_now, own_now = theta[0:R], theta[2 * R : 3 * R]
        c_off.append(fix_rate_on(p, pair_now, sel_tr))
        c_own.append(fix_rate_on(p, pair_now, sel_eval))
        c_own0.append(fix_rate_on(p, own_now, sel_eval))

    record(0)
    for step in range(1, p["sft_steps"] + 1):
        j = (rng.random((S, B)) * plen_f).astype(np.intp) + row_start
        x = np.take(sets_x, np.take(pidx, j), axis=0)  # (S, B, M + 1)
        z = softmax1_(np.matmul(theta, x.transpose(0, 2, 1)))  # (S, A, B)
        np.negative(z, out=z)
        z.reshape(-1)[hot_base + np.take(ptgt, j) * B] += 1.0
        theta += rate * np.matmul(z, x)
        if step % p["record_every"] == 0:
            record(step)

    pair, plus, pair_own, plus_own, star = (theta[i * R : (i + 1) * R] for i in range(5))
    sw_pair = theta[5 * R : (5 + L) * R]
    sw_plus = theta[(5 + L) * R : (5 + 2 * L) * R]

    # ---- online RL: the R correctors as rows, one loop over steps.
    rl = base.copy()
    Bq, n_pool = p["rl_batch"], p["rl_pool"]
    pool_flat, pool_err = pool_x.reshape(-1, m + 1), pool_e.ravel()
    r1_flat = (pool_err == 0).astype(float)
    pool_off = (np.arange(R) * n_pool)[:, None]
    hot_rl = (np.arange(R) * a * Bq)[:, None] + np.arange(Bq)[None, :]
    step_rate, decay = p["rl_rate"] / Bq, p["baseline_decay"]
    baseline = np.zeros((R, 1))
    for _ in range(p["rl_steps"]):
        gi = (rng.random((R, Bq)) * n_pool).astype(np.intp) + pool_off
        x = np.take(pool_flat, gi, axis=0)
        err = np.take(pool_err, gi)
        z = softmax1_(np.matmul(rl, x.transpose(0, 2, 1)))
        act = sample_actions(z, rng.random((R, Bq)))
        gain = (rng.random((R, Bq)) < p_right(p, err, act)) - np.take(r1_flat, gi)
        np.negative(z, out=z)
        z.reshape(-1)[hot_rl + act * Bq] += 1.0
        z *= (gain - baseline)[:, None, :]
        rl += step_rate * np.matmul(z, x)
        baseline = decay * baseline + (1.0 - decay) * gain.mean(1, keepdims=True)

    # ---- deployment.
    arms = {
        "base": base,
        "star": star,
        "pair_sft": pair,
        "pair_sft_plus": plus,
        "pair_sft_own": pair_own,
        "pair_sft_plus_own": plus_own,
        "online_rl": rl,
    }
    deployed = {arm: deploy(p, policy, eval_e, eval_x) for arm, policy in arms.items()}
    # The sweep: the main arms at λ = `lambda` and λ = 0, the fresh runs elsewhere,
    # every one on the main eval set.
    sweep = []
    for lam in lambdas:
        if lam == p["lambda"]:
            sweep.append((deployed["pair_sft"], deployed["pair_sft_plus"]))
        elif lam == 0.0:
            sweep.append((deployed["pair_sft_own"], deployed["pair_sft_plus_own"]))
        else:
            s = slice(fresh.index(lam) * R, (fresh.index(lam) + 1) * R)
            sweep.append((deploy(p, sw_pair[s], eval_e, eval_x), deploy(p, sw_plus[s], eval_e, eval_x)))
    curves = (np.array(steps), np.array(c_off), np.array(c_own), np.array(c_own0))
    return deployed, sweep, curves


T975 = {199: 1.971956544}


def interval(v):
    """Mean and 95% t-interval of the replicate values v (R,)."""
    n = v.shape[-1]
    mean = v.mean(-1)
    sd = v.std(-1, ddof=1)
    half = T975.get(n - 1, 1.96) * sd / np.sqrt(n)
    return mean, mean - half, mean + half


def summarise(p, deployed, sweep, curves):
    out = {}
    for arm, d in deployed.items():
        for metric, v in d.items():
            out[(arm, metric, p["lambda"])] = interval(v)
    rl, pair, plus = deployed["online_rl"], deployed["pair_sft"], deployed["pair_sft_plus"]
    own, plus_own = deployed["pair_sft_own"], deployed["pair_sft_plus_own"]
    lam = p["lambda"]
    out[("online_rl_vs_pair_sft", "rl_gain", lam)] = interval(rl["delta"] - pair["delta"])
    out[("online_rl_vs_pair_sft_plus", "rl_gain", lam)] = interval(rl["delta"] - plus["delta"])
    out[("online_rl_vs_pair_sft_plus_own", "rl_gain", lam)] = interval(rl["delta"] - plus_own["delta"])
    out[("pair_sft_own_vs_pair_sft", "delta_cost", lam)] = interval(own["delta"] - pair["delta"])
    out[("pair_sft_own_vs_pair_sft", "fix_rate_cost", lam)] = interval(own["fix_rate"] - pair["fix_rate"])
    wins = (rl["delta"] > plus["delta"]).astype(float)
    out[("online_rl_vs_pair_sft_plus", "rl_wins", lam)] = (wins.mean(),)
    steps, c_off, c_own, c_own0 = curves
    for t, s in enumerate(steps):
        out[("pair_sft", "fix_rate_offline", s)] = interval(c_off[t])
        out[("pair_sft", "fix_rate_own", s)] = interval(c_own[t])
        out[("pair_sft_own", "fix_rate_own", s)] = interval(c_own0[t])
    for lam_i, (dp, dq) in zip(p["lambdas"], sweep):
        out[("pair_sft", "delta_sweep", lam_i)] = interval(dp["delta"])
        out[("pair_sft", "fix_rate_sweep", lam_i)] = interval(dp["fix_rate"])
        out[("pair_sft_plus", "delta_sweep", lam_i)] = interval(dq["delta"])
        out[("pair_sft_plus", "edit_rate_sweep", lam_i)] = interval(dq["edit_rate"])
        out[("online_rl", "delta_sweep", lam_i)] = out[("online_rl", "delta", lam)]
    return out


def main():
    spec = harness.load_spec("offline_correction")
    seed, R, p = spec["seed"], spec["replicates"], spec["params"]
    summaries, seconds = harness.timed_runs(lambda k: summarise(p, *simulate(p, R, seed + k)))
    summary = summaries[-1]
    ours = {(arm, metric, round(x, 6)): mean for (arm, metric, x), (mean, _, _) in harness.committed("offline_correction").items()}
    lam = p["lambda"]
    print(f"{'arm':<28} {'metric':<16} {'x':>5} {'numpy':>9} {'rust':>9}")
    shown = [
        ("base", "delta", lam),
        ("base", "edit_rate", lam),
        ("star", "delta", lam),
        ("pair_sft", "delta", lam),
        ("pair_sft", "fix_rate", lam),
        ("pair_sft_own", "fix_rate", lam),
        ("pair_sft_plus", "edit_rate", lam),
        ("pair_sft_plus_own", "delta", lam),
        ("online_rl", "delta", lam),
        ("online_rl", "edit_rate", lam),
        ("online_rl_vs_pair_sft_plus", "rl_wins", lam),
        ("pair_sft_own_vs_pair_sft", "fix_rate_cost", lam),
        ("pair_sft", "fix_rate_offline", float(p["sft_steps"])),
        ("pair_sft", "fix_rate_own", float(p["sft_steps"])),
        ("pair_sft_plus", "edit_rate_sweep", 0.0),
        ("pair_sft_plus", "delta_sweep", 0.6),
    ]
    for key in shown:
        arm, metric, x = key
        mine = summary[(arm, metric, x if metric not in ("fix_rate_offline", "fix_rate_own") else int(x))][0]
        rust = ours.get((arm, metric, round(float(x), 6)), float("nan"))
        print(f"{arm:<28} {metric:<16} {x:>5g} {mine:9.4f} {rust:9.4f}")
    harness.report_seconds("offline_correction", seconds)


if __name__ == "__main__":
    main()
