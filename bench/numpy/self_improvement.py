"""NumPy baseline of the `self_improvement` simulation (src/sim/self_improvement/), for issue 18.

What it implements, at the sizes of specs/self_improvement.toml (read with tomllib):

- The learner of the module doc: per length L the labels it was taught and how many were
  wrong, and the training set's digits and wrong digits. Its accuracy at L is
  (1 - r)^L (1 - q_L) (1 - x(L)) with the shared rule error r = min(eps0 + mu s
  wrong_digits / digits, 0.9), the length error q_L = mu (1 - s) wrong_L / taught_L and
  the extrapolation failure x(L) = x_max sigmoid(kappa ((L - T)/R - 1)) past the span T
  (a table over L - T, computed once).
- Each round: `problems_per_length` labels at every length from initial_span + 1 to
  T + window. A label is right, wrong (kept) or dropped, with the filter's
  probabilities: no_filter (a, 1 - a), length_filter (a, (1 - a)(1 - l)), oracle (a, 0),
  self_consistency and the votes (correlation c: c a + (1 - c) P(Bin(n, a) >= k) right,
  c (1 - a) [(1 - l) with the length check] wrong). The three counts per length are one
  multinomial draw (two binomials), which has exactly the distribution of the per-label
  draws. A wrong label carries the expected wrong digits of a wrong answer,
  clamp((r L + q_L + x(L) (L - T)) / (1 - a), 1, L).
- Noise injection at `injection_round`: each kept label is corrupted with probability f
  (binomials of the right and of the wrong kept labels); a corrupted label has at least
  max(ceil(0.3 L), 1) wrong digits.
- Retraining adds the kept labels; the span moves through every following length that
  kept at least min_kept_share x problems_per_length labels this round.
- Recorded per round: frontier, span, accuracy at the anchor length, rule error, label
  noise and kept share, accuracy by length at `accuracy_rounds` (majority_vote arm).
- Conditions: the six arms, the ten voter correlations and the seven injected fractions
  (23 x `replicates` runs).
- Summarise: mean and 95% t-interval (Wilson for the `avalanched` outcome) over
  replicates of every recorded (condition, metric, round).

How it is vectorised: every replicate of every condition is a row of the arrays (23 x
32 = 736 rows, one column per length), the filters differ only in per-row constants
(vote correlation, vote size, wrong-label keep factor, injected fraction), so one Python
loop over the 30 rounds drives all runs. One numpy Generator (PCG64) feeds everything,
single-threaded.

What it simplifies: its random numbers are numpy's, not the project's named ChaCha8
streams, so it agrees with `mismatch` in distribution (within sampling error), not in
bits. It writes no table or figure.

Usage: python3 bench/numpy/self_improvement.py [specs/self_improvement.toml]
Prints key means beside the committed figures/data/self_improvement.csv and one line
`self_improvement numpy_seconds=<median of 3 runs of simulate + summarise>`, in CPU
seconds of this single-threaded process (bench/numpy/harness.py).
"""

import harness  # first: it pins NumPy to one thread

from math import comb  # noqa: E402

import numpy as np  # noqa: E402

ARMS = ["no_filter", "length_filter", "self_consistency", "vote_only", "majority_vote", "oracle"]
T_975 = {31: 2.0395134463964077}  # Student t quantile for 32 replicates


def conditions(p):
    """(name, x, filter kind, correlation, length check, injected fraction) per condition."""
    c0 = p["voter_correlation"]
    out = [
        ("no_filter", 0.0, "none", 1.0, False, 0.0),
        ("length_filter", 0.0, "length", 1.0, True, 0.0),
        ("self_consistency", 0.0, "sc", p["sample_correlation"], False, 0.0),
        ("vote_only", 0.0, "vote", c0, False, 0.0),
        ("majority_vote", 0.0, "vote", c0, True, 0.0),
        ("oracle", 0.0, "oracle", 1.0, False, 0.0),
    ]
    out += [("majority_vote+correlation", c, "vote", c, True, 0.0) for c in p["correlations"]]
    out += [("majority_vote+injected", f, "vote", c0, True, f) for f in p["injection_fractions"]]
    return out


def binomial_tail(n, k, a):
    """P(Bin(n, a) >= k), elementwise: a^k sum_j C(n, k + j) a^j b^(n - k - j), b = 1 - a,
    by Horner's rule in a / b and multiplications only (no pow calls)."""
    b = 1.0 - a
    inner = np.full_like(a, float(comb(n, n)))
    for i in range(n - 1, k - 1, -1):  # Horner: sum_i C(n, i) a^(i-k) b^(n-i)
        inner *= a
        inner += comb(n, i) * b ** (n - i) if n - i > 1 else comb(n, i) * b
    ak = np.ones_like(a)
    for _ in range(k):
        ak *= a
    return ak * inner


def simulate(p, reps, seed):
    rng = np.random.default_rng(seed)
    conds = conditions(p)
    rows = len(conds) * reps
    lmax, n_prob = p["max_length"], p["problems_per_length"]
    eps0, mu, s, ell = p["base_digit_error"], p["imitation"], p["rule_share"], p["length_error_share"]
    thr = p["accuracy_threshold"]

    # Per-row filter constants.
    per = lambda f: np.repeat(np.array([f(c) for c in conds], dtype=float), reps)  # noqa: E731
    corr = per(lambda c: c[3])
    keep_wrong = per(lambda c: {"none": 1.0, "length": 1.0 - ell, "oracle": 0.0}.get(c[2], (1.0 - ell) if c[4] else 1.0))
    # Rows whose labels are voted on: (answers, needed) of the vote, by row block.
    sc_rows = np.flatnonzero(per(lambda c: c[2] == "sc"))
    vote_rows = np.flatnonzero(per(lambda c: c[2] == "vote"))
    inject_f = per(lambda c: c[5])

    int_lengths = np.arange(1, lmax + 1)
    lengths = int_lengths.astype(float)
    taught = np.zeros((rows, lmax))
    taught[:, : p["initial_span"]] = p["initial_examples"]
    taught_wrong = np.zeros((rows, lmax))
    digits = np.full(rows, float(sum(range(1, p["initial_span"] + 1)) * p["initial_examples"]))
    wrong_digits = np.zeros(rows)
    span = np.full(rows, p["initial_span"], dtype=np.int64)
    # x(L) over d = L - T (0 for d <= 0): a table, since it depends on L - T alone.
    d = np.arange(0, lmax + 1, dtype=float)
    xtab = p["extrapolation_max"] / (1.0 + np.exp(-p["extrapolation_sharpness"] * (d / p["reach"] - 1.0)))
    xtab[0] = 0.0
    first = p["initial_span"] + 1
    injected_digits = np.maximum(np.ceil(p["injected_digit_error"] * lengths), 1.0)
    needed = p["min_kept_share"] * n_prob
    col = np.arange(lmax)
    col1 = np.arange(lmax + 1)

    rec = {k: np.zeros((rows, p["rounds"] + 1)) for k in ["frontier", "span", "anchor", "rule"]}
    noise = np.full((rows, p["rounds"]), np.nan)
    kept_share = np.full((rows, p["rounds"]), np.nan)
    acc_curves = {}

    q = np.zeros((rows, lmax))  # length error, updated where labels were added
    for rnd in range(p["rounds"] + 1):
        rule = np.minimum(eps0 + mu * s * wrong_digits / digits, 0.9)
        beyond = np.maximum(int_lengths[None, :] - span[:, None], 0)
        x = xtab[beyond]
        acc = np.exp(lengths[None, :] * np.log1p(-rule)[:, None]) * (1.0 - q) * (1.0 - x)
        good = acc >= thr
        frontier = np.where(good.all(axis=1), lmax, np.argmin(good, axis=1))
        rec["frontier"][:, rnd] = frontier
        rec["span"][:, rnd] = span
        rec["anchor"][:, rnd] = acc[:, p["anchor_length"] - 1]
        rec["rule"][:, rnd] = rule
        if rnd in p["accuracy_rounds"]:
            acc_curves[rnd] = acc.copy()
        if rnd == p["rounds"]:
            break

        # Label lengths first..last (columns first-1 .. hi-1).
        last = np.maximum(np.minimum(span + p["window"], lmax), first)
        hi = int(last.max())
        sl = slice(first - 1, hi)
        a = acc[:, sl]
        active = col[None, sl] < last[:, None]
        wrong = 1.0 - a
        exp_wrong = rule[:, None] * lengths[None, sl] + q[:, sl] + x[:, sl] * np.maximum(lengths[None, sl] - span[:, None], 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            wd = np.where(wrong > 0, np.clip(exp_wrong / wrong, 1.0, lengths[None, sl]), 1.0)
        # P(a vote passes the right answer) where the answers err independently.
        tail = a.copy()  # rows without a vote: c = 1, unused
        tail[sc_rows] = a[sc_rows] * a[sc_rows]
        tail[vote_rows] = binomial_tail(p["voters"], p["votes_needed"], a[vote_rows])
        c = corr[:, None]
        p_right = c * a + (1.0 - c) * tail
        p_wrong = c * wrong * keep_wrong[:, None]
        n_right = np.zeros(a.shape, dtype=np.int64)
        n_right[active] = rng.binomial(n_prob, p_right[active])
        rest = 1.0 - p_right
        with np.errstate(invalid="ignore", divide="ignore"):
            cond_wrong = np.where(rest > 0, np.minimum(p_wrong / rest, 1.0), 0.0)
        n_wrong = np.zeros(a.shape, dtype=np.int64)
        open_ = active & (n_right < n_prob) & (cond_wrong > 0)
        n_wrong[open_] = rng.binomial(n_prob - n_right[open_], cond_wrong[open_])
        kept = n_right + n_wrong
        wrong_d = n_wrong * wd
        if rnd + 1 == p["injection_round"]:
            f = inject_f[:, None]
            hit_right = rng.binomial(n_right, f)
            hit_wrong = rng.binomial(n_wrong, f)
            inj = injected_digits[None, sl]
            wrong_d = (n_wrong - hit_wrong) * wd + hit_wrong * np.maximum(wd, inj) + hit_right * inj
            n_wrong = n_wrong + hit_right

        taught[:, sl] += kept
        taught_wrong[:, sl] += n_wrong
        with np.errstate(invalid="ignore", divide="ignore"):
            q[:, sl] = np.where(taught[:, sl] > 0, mu * (1.0 - s) * taught_wrong[:, sl] / taught[:, sl], 0.0)
        digits += kept @ lengths[sl]
        wrong_digits += wrong_d.sum(axis=1)
        kept_total, wrong_total = kept.sum(axis=1), n_wrong.sum(axis=1)
        labelled = (last - first + 1) * n_prob
        with np.errstate(invalid="ignore", divide="ignore"):
            noise[:, rnd] = np.where(kept_total > 0, wrong_total / kept_total, np.nan)
        kept_share[:, rnd] = kept_total / labelled

        # The span moves through every following length that kept enough labels.
        ok = np.zeros((rows, lmax + 1), dtype=bool)
        ok[:, sl] = (kept >= needed) & (kept > 0)
        ok[col1[None, :] < span[:, None]] = True  # lengths up to the span
        span = np.argmin(ok, axis=1)  # first length index (0-based) that did not move
        span = np.minimum(span, lmax)
    return conds, rec, noise, kept_share, acc_curves


def mean_ci(v):
    """Mean and 95% t-interval over the last axis (replicates)."""
    n = v.shape[-1]
    m = v.mean(axis=-1)
    half = T_975[n - 1] * v.std(axis=-1, ddof=1) / np.sqrt(n)
    return m, m - half, m + half


def summarise(p, reps, sim):
    conds, rec, noise, kept_share, acc_curves = sim
    out = {}
    shape = lambda a: a.reshape(len(conds), reps, *a.shape[1:])  # noqa: E731
    frontier, span_, anchor, rule = (shape(rec[k]) for k in ["frontier", "span", "anchor", "rule"])
    noise_, kept_ = shape(noise), shape(kept_share)
    for i, (name, x, *_rest) in enumerate(conds):
        final = frontier[i, :, -1]
        out[(name, "final_frontier", x)] = mean_ci(final)
        aval = anchor[i, :, -1] < p["accuracy_threshold"]
        k, n, z = aval.sum(), reps, 1.959963984540054
        centre = (k + z * z / 2) / (n + z * z)
        half = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
        out[(name, "avalanched", x)] = (k / n, centre - half, centre + half)
        if "+" in name:
            continue
        for metric, arr in [("frontier", frontier), ("span", span_), ("accuracy_at_anchor", anchor), ("rule_error", rule)]:
            m = mean_ci(np.moveaxis(arr[i], 0, -1))
            for r in range(arr.shape[2]):
                out[(name, metric, float(r))] = tuple(v[r] for v in m)
        for r in range(p["gain_every"], p["rounds"] + 1, p["gain_every"]):
            out[(name, "frontier_gain", float(r))] = mean_ci(frontier[i, :, r] - frontier[i, :, r - p["gain_every"]])
        for metric, arr in [("label_noise", noise_), ("kept_share", kept_)]:
            for r in range(arr.shape[2]):
                v = arr[i, :, r]
                v = v[~np.isnan(v)]
                if len(v) > 1:
                    out[(name, metric, float(r + 1))] = mean_ci(v) if len(v) == reps else (v.mean(), np.nan, np.nan)
        if name == "majority_vote":
            for rnd, curve in acc_curves.items():
                m = mean_ci(np.moveaxis(curve.reshape(len(conds), reps, -1)[i], 0, -1))
                for j in range(curve.shape[1]):
                    out[(name, f"accuracy_round_{rnd}", float(j + 1))] = tuple(v[j] for v in m)
    return out


def main():
    spec = harness.load_spec("self_improvement")
    p, reps, seed = spec["params"], spec["replicates"], spec["seed"]
    tables, seconds = harness.timed_runs(lambda k: summarise(p, reps, simulate(p, reps, seed + k)))
    table = tables[-1]
    committed = harness.committed("self_improvement")
    keys = [("majority_vote", "final_frontier", 0.0), ("vote_only", "final_frontier", 0.0),
            ("majority_vote", "frontier_gain", 10.0), ("majority_vote", "frontier_gain", 30.0),
            ("majority_vote", "kept_share", 1.0), ("no_filter", "label_noise", 2.0),
            ("no_filter", "label_noise", 10.0), ("no_filter", "avalanched", 0.0),
            ("self_consistency", "avalanched", 0.0), ("length_filter", "final_frontier", 0.0),
            ("oracle", "final_frontier", 0.0), ("oracle", "accuracy_at_anchor", float(p["rounds"]))]
    keys += [("majority_vote+correlation", "final_frontier", c) for c in p["correlations"]]
    keys += [("majority_vote+injected", "final_frontier", f) for f in p["injection_fractions"]]
    print(f"{'arm':<26} {'metric':<19} {'x':>5} {'numpy':>9} {'mismatch':>9}")
    for k in keys:
        mean = table[k][0]
        print(f"{k[0]:<26} {k[1]:<19} {k[2]:>5g} {mean:9.4f} {committed.get(k, (float('nan'),))[0]:9.4f}")
    harness.report_seconds("self_improvement", seconds)


if __name__ == "__main__":
    main()
