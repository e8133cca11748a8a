"""NumPy baseline for the `context_accumulation` figure (issue 18).

What it implements: the model of `src/sim/context_accumulation/` at the sizes of
`specs/context_accumulation.toml` (read here with tomllib). Turn t is right with
probability sigma(z + s - beta * e_t), e_t the error share of the last W turns of the
context (which starts as W clean turns, or W errors); a wrong turn enters the context
as wrong with probability `feedback`. The experiments, as in Rust:

- injection: every scale x {non-thinking, thinking, open-loop} x injection rate, all
  `replicates` runs of all of them at once (one row each); turns 1-50 written with
  error rate r, turns 51-100 played; turn-100 accuracy, share collapsed, the drop from
  r = 0 to r = 1 (paired by replicate), accuracy turn by turn after r = 1;
- horizons: both arms (beta = 0, beta = beta_base) x every step accuracy x
  `horizon_batches` batches of `horizon_batch` runs, all at once; a batch stops once
  its 3-error-tolerant survival has fallen to `horizon_success`, as in Rust; the
  task-success and tolerant horizons per batch by the same log-linear interpolation;
- escapes: every (start, beta, W) condition of panels (d) and (e), all runs at once
  (rows of different W share one time-major history buffer), each until its window
  loses (error start) or gains (clean start) an error majority, censored at
  `escape_max_turns`; excess lifetime growth per replicate;
- the analytic binomial horizons and the mean-field bistable range (grid of beta x e,
  sign changes, bisection of the edges; the sign of f decided from a table of the grid's
  log-odds, no exp, as in Rust).

How it is made fast: all runs of an experiment are rows of one set of arrays, one
Python loop over turns; per row a precomputed table of sigma over the window's error
count (no exp in the loop: the state is discrete), indexed by `base + errors`; the
context is a time-major ring or history (the turn leaving the window is a contiguous
row, or one gather when windows differ); preallocated buffers and `out=` everywhere;
finished rows are compacted away once a quarter of the rows are stale.

What it simplifies (none of it changes the distributions): numpy's own SFC64
generator (not our ChaCha8 streams, so the numbers agree with Rust's within sampling
error, not bit for bit); one stream for everything; uniforms are float64 as in Rust.
Summaries are means and normal / Wilson 95% intervals, not our full analysis tables.

Prints one line `context_accumulation numpy_seconds=<s>`: the median of 3 runs of
simulate + summarise (after interpreter start and imports, single-threaded), in CPU
seconds of this process (bench/numpy/harness.py); and, on stderr, a few key means
beside the committed Rust ones (figures/data/context_accumulation.csv).
"""

import harness  # first: it pins NumPy to one thread

import sys  # noqa: E402

import numpy as np  # noqa: E402

ID = "context_accumulation"


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def tables(window, logits, betas):
    """sigma(z - beta e / W) for e = 0..W, one row per arm, flattened."""
    e = np.arange(window + 1) / window
    return sigmoid(np.asarray(logits)[:, None] - np.asarray(betas)[:, None] * e[None, :]).ravel()


def wilson(k, n, z=1.96):
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return p, c - h, c + h


def mean_ci(x, axis=-1):
    m = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / np.sqrt(x.shape[axis])
    return m, m - 1.96 * se, m + 1.96 * se


# ---------------------------------------------------------------- injection (a), (b)
def injection(P, reps, rng):
    W, T, I = P["window"], P["turns"], P["injected_turns"]
    arms, logits, betas, fbs = [], [], [], []
    for s in P["scales"]:
        for mode in ("non-thinking", "thinking", "open-loop"):
            arms.append(f"{s['name']}/{mode}")
            logits.append(P["logit_base"] + s["bonus"])
            betas.append(P["thinking_beta"] if mode == "thinking" else P["beta_base"] + P["beta_per_bonus"] * s["bonus"])
            fbs.append(0.0 if mode == "open-loop" else P["feedback"])
    rates = np.array(P["injection_rates"])
    A, R = len(arms), len(rates)
    N = A * R * reps  # rows: (arm, rate, replicate)
    table = tables(W, logits, betas)
    fb = np.repeat(np.array(fbs), R * reps)
    hist = np.zeros((W + T, N), dtype=np.int8)  # time-major: rows 0..W-1 the clean prompt
    hist[W : W + I] = rng.random((I, N)) < np.tile(np.repeat(rates, reps), A)
    idx = np.repeat(np.arange(A) * (W + 1), R * reps) + hist[I : W + I].sum(axis=0, dtype=np.int64)
    rights = np.empty((T - I, N), dtype=bool)
    u, p, wrong = np.empty(N), np.empty(N), np.empty(N, dtype=bool)
    full, partial = fb >= 1.0, (fb > 0.0) & (fb < 1.0)
    any_partial = partial.any()
    for k, t in enumerate(range(I, T)):
        rng.random(out=u)
        np.take(table, idx, out=p)
        np.less(u, p, out=rights[k])
        np.logical_not(rights[k], out=wrong)
        seen = wrong & full
        if any_partial:
            seen |= wrong & partial & (rng.random(N) < fb)
        hist[W + t] = seen
        idx += seen
        idx -= hist[t]
    errors = idx - np.repeat(np.arange(A) * (W + 1), R * reps)
    last = rights[-1].reshape(A, R, reps)
    collapsed = (2 * errors > W).reshape(A, R, reps)
    out = {}
    for a, arm in enumerate(arms):
        for j, r in enumerate(rates):
            out[(arm, "turn_accuracy_at_end", r)] = wilson(last[a, j].sum(), reps)
            out[(arm, "collapsed_at_end", r)] = wilson(collapsed[a, j].sum(), reps)
        out[(arm, "injection_drop", 0.0)] = mean_ci(last[a, 0].astype(float) - last[a, -1])
    after = rights.reshape(T - I, A, R, reps)[:, :, -1, :].mean(axis=-1)  # r = 1, by turn
    for a, arm in enumerate(arms):
        for k in range(T - I):
            out[(arm, "accuracy_after_injection", float(I + k + 1))] = (after[k, a],)
    return out


# ---------------------------------------------------------------- horizons (c)
def crossing_from_events(events, batch, success, max_turns):
    """Per batch (rows of `events`, the turn of each run's event, inf if none): where
    the share of runs without the event falls to `success`, linear in log space."""
    d = np.sort(events, axis=1)
    m = batch - int(np.floor(success * batch))  # events needed for the share to reach s
    t = np.minimum(d[:, m - 1], max_turns)
    cur = batch - (d <= t[:, None]).sum(axis=1)
    prev = batch - (d <= (t - 1)[:, None]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lc, lp, lt = np.log(cur / batch), np.log(prev / batch), np.log(success)
        frac = np.where(cur > 0, (lt - lp) / (lc - lp), 0.0)
    return (t - 1) + frac


def horizons(P, rng):
    W, k, b, B = P["window"], P["horizon_tolerance"], P["horizon_batch"], P["horizon_batches"]
    accs = np.array(P["horizon_step_accuracies"])
    arms = [("no_self_conditioning", 0.0), ("self_conditioning", P["beta_base"])]
    logits = np.tile(np.log(accs / (1 - accs)), len(arms))
    betas = np.repeat([beta for _, beta in arms], len(accs))
    M = len(logits)
    table = tables(W, logits, betas)
    N = M * B * b  # rows: (arm, accuracy, batch, run)
    target = P["horizon_success"] * b
    full, fb = P["feedback"] >= 1.0, P["feedback"]
    # Live state, compacted as runs die and batches stop. A dead run (more than k
    # errors) or a run of a stopped batch may keep stepping until the next compaction:
    # its first error and death are recorded once (at total == 1, k + 1) and turns after
    # its batch stopped never reach the batch's curves up to where they cross.
    rid = np.arange(N)
    bat = rid // b
    idx = (bat // B) * (W + 1)
    total = np.zeros(N, dtype=np.int64)
    ring = np.zeros((W, N), dtype=np.int8)
    first = np.full(N, np.inf)
    death = np.full(N, np.inf)
    alive = np.full(M * B, b)
    done = np.zeros(M * B, dtype=bool)
    u, p, wrong = np.empty(N), np.empty(N), np.empty(N, dtype=bool)
    stale = 0
    t = 0
    while len(rid) and t < P["horizon_max_turns"]:
        t += 1
        n = len(rid)
        un, pn, wn = u[:n], p[:n], wrong[:n]
        rng.random(out=un)
        np.take(table, idx, out=pn)
        np.greater_equal(un, pn, out=wn)
        seen = wn if full else wn & (rng.random(n) < fb)
        slot = ring[t % W]
        idx -= slot
        slot[:] = seen
        idx += seen
        total += wn
        hit = np.flatnonzero(wn)
        if len(hit):
            th = total[hit]
            first[rid[hit[th == 1]]] = t
            dead = hit[th == k + 1]
            if len(dead):
                death[rid[dead]] = t
                stale += len(dead)
                np.subtract.at(alive, bat[dead], 1)
                stop = np.unique(bat[dead])
                stop = stop[(alive[stop] <= target) & ~done[stop]]
                if len(stop):
                    done[stop] = True
                    stale += int(alive[stop].sum())
        if stale * 4 > n:
            keep = (total <= k) & ~done[bat]
            rid, bat, idx, total = rid[keep], bat[keep], idx[keep], total[keep]
            ring = ring[:, keep]
            stale = 0
    max_turns = P["horizon_max_turns"]
    task = crossing_from_events(first.reshape(M * B, b), b, P["horizon_success"], max_turns)
    tol = crossing_from_events(death.reshape(M * B, b), b, P["horizon_success"], max_turns)
    out = {}
    for m in range(M):
        arm, acc = arms[m // len(accs)][0], accs[m % len(accs)]
        out[(arm, "task_horizon", acc)] = mean_ci(task[m * B : (m + 1) * B])
        out[(arm, "tolerant_horizon", acc)] = mean_ci(tol[m * B : (m + 1) * B])
    # Analytic: P(Binomial(t, 1 - p) <= k) for every accuracy at once.
    pmf = np.zeros((len(accs), k + 1))
    pmf[:, 0] = 1.0
    ls = np.log(P["horizon_success"])
    prev = np.zeros(len(accs))
    h = np.full((2, len(accs)), np.nan)
    for t in range(1, max_turns + 1):
        pmf[:, 1:] = pmf[:, 1:] * accs[:, None] + pmf[:, :-1] * (1 - accs[:, None])
        pmf[:, 0] *= accs
        with np.errstate(divide="ignore"):
            cur = np.log(np.stack([pmf[:, 0], pmf.sum(axis=1)]))
        new = (cur <= ls) & np.isnan(h)
        with np.errstate(divide="ignore", invalid="ignore"):
            h[new] = (t - 1) + ((ls - prev) / (cur - prev))[new]
        prev = cur
        if not np.isnan(h).any():
            break
    for j, acc in enumerate(accs):
        out[("analytic", "task_horizon", acc)] = (h[0, j],)
        out[("analytic", "tolerant_horizon", acc)] = (h[1, j],)
    return out


# ---------------------------------------------------------------- escapes (d), (e)
def escapes(P, reps, rng):
    z, fb, max_turns = P["logit_base"], P["feedback"], P["escape_max_turns"]
    conds = []  # (start_wrong, beta, W)
    for start_wrong in (True, False):
        conds += [(start_wrong, P["beta_base"], w) for w in P["escape_windows"]]
    for beta in P["escape_betas"]:
        conds += [(True, beta, w) for w in P["escape_beta_windows"]]
    C = len(conds)
    Ws = np.array([w for _, _, w in conds])
    offsets = np.concatenate([[0], np.cumsum(Ws + 1)[:-1]])
    table = np.concatenate([tables(w, [z], [beta]) for _, beta, w in conds])
    N = C * reps
    w_row = np.repeat(Ws, reps)
    sw = np.repeat([s for s, _, _ in conds], reps)
    base = np.repeat(offsets, reps)
    idx = base + np.where(sw, w_row, 0)
    # Done when sgn * idx < thr: error start loses its majority, clean start gains one.
    sgn = np.where(sw, 1, -1)
    thr = np.where(sw, base + (w_row + 1) // 2, -(base + w_row // 2))
    wmax = int(Ws.max())
    L = wmax + 2048  # time-major history; the turn leaving row i's window is W_i rows back
    hist = np.zeros((L, N), dtype=np.int8)
    hist[:wmax] = sw
    rid = np.arange(N)
    col_off = np.arange(N) - w_row * N  # flat index of (t - W_i, i) is t * N + col_off
    life = np.full(N, max_turns + 1, dtype=np.int64)  # max_turns + 1: not escaped yet
    full = fb >= 1.0
    u, p, wrong, key = np.empty(N), np.empty(N), np.empty(N, dtype=bool), np.empty(N, dtype=np.int64)
    stale = 0
    h = wmax  # history row of the next turn
    for t in range(1, max_turns + 1):
        n = len(rid)
        if n == 0:
            break
        if h == L:  # keep the last wmax turns, restart the buffer
            hist[:wmax] = hist[L - wmax :]
            h = wmax
        un, pn, wn, kn = u[:n], p[:n], wrong[:n], key[:n]
        rng.random(out=un)
        np.take(table, idx, out=pn)
        np.greater_equal(un, pn, out=wn)
        seen = wn if full else wn & (rng.random(n) < fb)
        old = np.take(hist.ravel(), col_off + h * n)
        hist[h] = seen
        h += 1
        idx += seen
        idx -= old
        np.multiply(sgn, idx, out=kn)
        esc = np.flatnonzero(kn < thr)
        if len(esc):
            esc = esc[life[rid[esc]] > max_turns]  # an escaped run may cross again before compaction
            life[rid[esc]] = t
            stale += len(esc)
            if stale * 4 > n:
                keep = life[rid] > max_turns
                rid, idx, sgn, thr, w_row = rid[keep], idx[keep], sgn[keep], thr[keep], w_row[keep]
                m = len(rid)
                new = np.zeros((L, m), dtype=np.int8)
                new[h - wmax : h] = hist[h - wmax : h, keep]
                hist = new
                col_off = np.arange(m) - w_row * m
                stale = 0
    life = np.minimum(life, max_turns)
    life = life.reshape(C, reps)
    out = {}
    k = 0
    for start in ("error_start", "clean_start"):
        for w in P["escape_windows"]:
            out[(start, "lifetime", float(w))] = mean_ci(life[k].astype(float))
            k += 1
        if start == "error_start":
            w0, w1 = P["escape_windows"][0], P["escape_windows"][-1]
            g = np.log(life[k - 1] / life[k - len(P["escape_windows"])]) - np.log((w1 // 2 + 1) / (w0 // 2 + 1))
            out[(start, "lifetime_excess_growth", 0.0)] = mean_ci(g)
    w0, w1 = P["escape_beta_windows"][0], P["escape_beta_windows"][-1]
    for beta in P["escape_betas"]:
        g = np.log(life[k + 1] / life[k]) - np.log((w1 // 2 + 1) / (w0 // 2 + 1))
        out[("error_start", "excess_growth_by_beta", beta)] = mean_ci(g)
        k += 2
    lo, hi = bistable_range(z)
    out[("mean_field", "bistable_beta", 0.0)] = (lo,)
    out[("mean_field", "bistable_beta", 1.0)] = (hi,)
    return out


def root_counts(z, betas, grid=2000):
    """Sign changes of 1 - sigma(z - beta e) - e on the grid e = i/grid, per beta.
    No exp, as in Rust: f > 0 iff z - beta e < ln((1 - e)/e) (sigma increases)."""
    e = np.arange(grid + 1) / grid
    with np.errstate(divide="ignore"):
        ln_odds = np.log((1.0 - e) / e)  # +inf at e = 0, -inf at e = 1
    pos = (z - np.asarray(betas)[:, None] * e[None, :]) < ln_odds[None, :]
    return (pos[:, 1:] != pos[:, :-1]).sum(axis=1)


def bistable_range(z):
    step = 0.05
    betas = np.arange(801) * step
    bi = np.flatnonzero(root_counts(z, betas) == 3)
    if not len(bi):
        return np.nan, np.nan

    def refine(inside, outside):
        while abs(inside - outside) > 1e-6:
            mid = 0.5 * (inside + outside)
            if root_counts(z, [mid])[0] == 3:
                inside = mid
            else:
                outside = mid
        return 0.5 * (inside + outside)

    first, last = betas[bi[0]], betas[bi[-1]]
    return refine(first, first - step), refine(last, last + step)


# ---------------------------------------------------------------- driver
def simulate_and_summarise(spec):
    P, reps = spec["params"], spec["replicates"]
    rng = np.random.Generator(np.random.SFC64(spec["seed"]))
    out = {}
    out.update(injection(P, reps, rng))
    out.update(horizons(P, rng))
    out.update(escapes(P, reps, rng))
    return out


def main():
    spec = harness.load_spec(ID)
    runs, seconds = harness.timed_runs(lambda _: simulate_and_summarise(spec))
    out = runs[-1]
    rust = {key: mean for key, (mean, _, _) in harness.committed(ID).items()}
    keys = [
        ("small/non-thinking", "turn_accuracy_at_end", 1.0),
        ("small/open-loop", "turn_accuracy_at_end", 1.0),
        ("large/non-thinking", "turn_accuracy_at_end", 1.0),
        ("small/non-thinking", "collapsed_at_end", 0.25),
        ("small/non-thinking", "collapsed_at_end", 0.75),
        ("small/thinking", "injection_drop", 0.0),
        ("self_conditioning", "task_horizon", 0.99),
        ("self_conditioning", "tolerant_horizon", 0.95),
        ("no_self_conditioning", "tolerant_horizon", 0.95),
        ("no_self_conditioning", "tolerant_horizon", 0.995),
        ("analytic", "tolerant_horizon", 0.95),
        ("error_start", "lifetime", 30.0),
        ("clean_start", "lifetime", 30.0),
        ("error_start", "lifetime_excess_growth", 0.0),
        ("error_start", "excess_growth_by_beta", 5.5),
        ("mean_field", "bistable_beta", 0.0),
        ("mean_field", "bistable_beta", 1.0),
    ]
    print(f"{'arm':<22} {'metric':<24} {'x':>6} {'numpy':>10} {'rust':>10}", file=sys.stderr)
    for key in keys:
        r = rust.get(key)
        print(
            f"{key[0]:<22} {key[1]:<24} {key[2]:>6} {float(out[key][0]):>10.4f} {r if r is None else format(r, '10.4f'):>10}",
            file=sys.stderr,
        )
    harness.report_seconds(ID, seconds)


if __name__ == "__main__":
    main()
